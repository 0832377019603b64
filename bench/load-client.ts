import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** The part of autocannon's result the benches read (the package ships no types). */
export interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
  statusCodeStats?: Record<string, { count: number }>;
}

export interface LoadOptions {
  url: string;
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  body: Uint8Array;
  connections: number;
  duration?: number;
  amount?: number;
  overallRate?: number;
}

/**
 * autocannon in a child process: the client's own work (writing requests, parsing answers, its
 * histograms) must not run on the server's event loop or count as the server's CPU time, as it
 * would in the server's process. The body goes over stdin, the result comes back as JSON.
 */
export function loadFromChild(options: LoadOptions): Promise<AutocannonResult> {
  const { body, ...rest } = options;
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, JSON.stringify(rest)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stdin.end(body);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as AutocannonResult) : reject(new Error(`load client exited with code ${code}`))));
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const autocannon = createRequire(import.meta.url)('autocannon') as (options: Record<string, unknown>) => Promise<AutocannonResult>;
  const result = await autocannon({ ...(JSON.parse(process.argv[2]!) as object), body: Buffer.concat(chunks) });
  const { requests, latency, errors, timeouts, non2xx, duration, statusCodeStats } = result;
  process.stdout.write(JSON.stringify({ requests, latency, errors, timeouts, non2xx, duration, statusCodeStats }));
}
