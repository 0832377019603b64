import type { CAC } from 'cac';
import { buildServer, SERVE_DEFAULTS } from '../../server/app.js';
import { invalidOption } from '../../errors.js';
import { redactUrl } from '../../gallery/open.js';
import { numberOption } from '../options.js';

interface ServeFlags {
  port: unknown;
  host: string;
  apiKey?: string;
  maxBodyMb: unknown;
  maxPixels: unknown;
  maxInFlight: unknown;
  gallery?: string;
  browserModel?: string;
}

function integerOption(flag: string, value: unknown, min: number, max: number): number {
  const n = numberOption(flag, value);
  if (!Number.isInteger(n) || n < min || n > max) throw invalidOption(flag, `an integer from ${min} to ${max}`, value);
  return n;
}

/** Closes the server on the first SIGINT/SIGTERM (in-flight requests finish); a second signal exits at once. */
function closeOnSignals(close: () => Promise<void>): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) process.exit(130);
    closing = true;
    process.stderr.write(`\n${signal}: finishing requests in progress, then stopping\n`);
    void close().then(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

export function registerServe(cli: CAC): void {
  cli
    .command('serve <model-dir>', 'HTTP recognition service and a live camera page for a trained model')
    .option('--port <port>', 'TCP port (0 picks a free one)', { default: 8080 })
    .option('--host <host>', 'Interface to listen on; 0.0.0.0 exposes the service to the network', { default: '127.0.0.1' })
    .option('--api-key <key>', 'Key for routes that change the model (default: $FACETRAIN_API_KEY; without one they are disabled)')
    .option('--max-body-mb <mb>', 'Largest request body in MB', { default: SERVE_DEFAULTS.maxBodyBytes / 1024 / 1024 })
    .option('--max-pixels <n>', 'Largest image in pixels, checked before decoding', { default: SERVE_DEFAULTS.maxPixels })
    .option('--gallery <url>', 'Name faces by their nearest templates in this gallery and enrol people there (postgres://... shared by several servers, pglite:<folder>, file:<json>, embedded)')
    .option('--browser-model <dir>', 'Serve this TF.js export of a face model (facetrain export --format tfjs) so the page recognizes in the browser; it holds every person\'s templates')
    .option('--max-in-flight <n>', 'Recognitions at once; more are refused with 503', { default: SERVE_DEFAULTS.maxInFlight })
    .action(async (modelDir: string, flags: ServeFlags) => {
      const port = integerOption('--port', flags.port, 0, 65535);
      const maxBodyMb = numberOption('--max-body-mb', flags.maxBodyMb);
      if (maxBodyMb <= 0) throw invalidOption('--max-body-mb', 'a number above 0', flags.maxBodyMb);
      const app = await buildServer({
        modelDir,
        apiKey: flags.apiKey ?? process.env.FACETRAIN_API_KEY,
        maxBodyBytes: Math.round(maxBodyMb * 1024 * 1024),
        maxPixels: integerOption('--max-pixels', flags.maxPixels, 1, Number.MAX_SAFE_INTEGER),
        maxInFlight: integerOption('--max-in-flight', flags.maxInFlight, 1, 10_000),
        gallery: flags.gallery,
        browserModel: flags.browserModel,
      });
      const address = await app.listen({ port, host: flags.host });
      const writes = flags.apiKey || process.env.FACETRAIN_API_KEY ? 'enrolment enabled with the API key' : 'enrolment disabled (no --api-key)';
      const served = flags.gallery ? `${modelDir} with the gallery ${redactUrl(flags.gallery)}` : modelDir;
      console.log(`facetrain serving ${served} at ${address} (page: ${address}/, API: ${address}/openapi.json; ${writes})`);
      closeOnSignals(() => app.close());
    });
}
