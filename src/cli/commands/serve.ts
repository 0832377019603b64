import type { CAC } from 'cac';
import { buildServer, SERVE_DEFAULTS } from '../../server/app.js';
import { redactUrl } from '../../gallery/open.js';
import { addFlags, optionsFromFlags, type FlagRanges, type FlagTable } from '../flag-table.js';

/** What `serve` can be told besides the model: buildServer's options as a user gives them, and where to listen. */
interface ServeSettings {
  port: number;
  host: string;
  apiKey?: string;
  /** ServeOptions.maxBodyBytes in MB. */
  maxBodyMb: number;
  maxPixels: number;
  maxInFlight: number;
  gallery?: string;
  browserModel?: string;
}

const MB = 1024 * 1024;

const SERVE_FLAG_DEFAULTS: Partial<ServeSettings> = Object.freeze({
  port: 8080,
  host: '127.0.0.1',
  maxBodyMb: SERVE_DEFAULTS.maxBodyBytes / MB,
  maxPixels: SERVE_DEFAULTS.maxPixels,
  maxInFlight: SERVE_DEFAULTS.maxInFlight,
});

/** Bounds a typo cannot get past: a 1 GP image takes 3 GB decoded, a body of 1 GB is no photo. */
export const SERVE_RANGES: FlagRanges<ServeSettings> = Object.freeze({
  port: { min: 0, max: 65535, integer: true },
  maxBodyMb: { min: 0, max: 1024, aboveMin: true },
  maxPixels: { min: 1, max: 1_000_000_000, integer: true },
  maxInFlight: { min: 1, max: 10_000, integer: true },
});

const SERVE_FLAGS: FlagTable<ServeSettings> = {
  port: { kind: 'number', value: 'port', help: 'TCP port (0 picks a free one)' },
  host: { kind: 'string', value: 'host', help: 'Interface to listen on; 0.0.0.0 exposes the service to the network' },
  apiKey: { kind: 'string', value: 'key', help: 'Key for routes that change the model (default: $FACETRAIN_API_KEY; without one they are disabled)' },
  maxBodyMb: { kind: 'number', value: 'mb', help: 'Largest request body in MB' },
  maxPixels: { kind: 'number', value: 'n', help: 'Largest image in pixels, checked before decoding' },
  gallery: { kind: 'string', value: 'url', help: 'Name faces by their nearest templates in this gallery and enrol people there (postgres://... shared by several servers, pglite:<folder>, file:<json>, embedded)' },
  browserModel: { kind: 'string', value: 'dir', help: "Serve this TF.js export of a face model (facetrain export --format tfjs) so the page recognizes in the browser; it holds every person's templates" },
  maxInFlight: { kind: 'number', value: 'n', help: 'Recognitions at once; more are refused with 503' },
};

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
  addFlags(cli.command('serve <model-dir>', 'HTTP recognition service and a live camera page for a trained model'), SERVE_FLAGS, SERVE_FLAG_DEFAULTS, SERVE_RANGES)
    .action(async (modelDir: string, flags: Record<string, unknown>) => {
      const settings = optionsFromFlags(flags, SERVE_FLAGS, SERVE_FLAG_DEFAULTS, SERVE_RANGES) as ServeSettings;
      const apiKey = settings.apiKey ?? process.env.FACETRAIN_API_KEY;
      const app = await buildServer({
        modelDir,
        apiKey,
        maxBodyBytes: Math.round(settings.maxBodyMb * MB),
        maxPixels: settings.maxPixels,
        maxInFlight: settings.maxInFlight,
        gallery: settings.gallery,
        browserModel: settings.browserModel,
      });
      const address = await app.listen({ port: settings.port, host: settings.host });
      const writes = apiKey ? 'enrolment enabled with the API key' : 'enrolment disabled (no --api-key)';
      const served = settings.gallery ? `${modelDir} with the gallery ${redactUrl(settings.gallery)}` : modelDir;
      console.log(`facetrain serving ${served} at ${address} (page: ${address}/, API: ${address}/openapi.json; ${writes})`);
      closeOnSignals(() => app.close());
    });
}
