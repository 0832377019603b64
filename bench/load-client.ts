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

export interface ProbeResult {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

const SELF = new URL(import.meta.url).pathname;

/**
 * autocannon in a child process: the client's own work (writing requests, parsing answers, its
 * histograms) must not run on the server's event loop or count as the server's CPU time, as it
 * would in the server's process. The body goes over stdin, the result comes back as JSON.
 */
export function loadFromChild(options: LoadOptions): Promise<AutocannonResult> {
  const { body, ...rest } = options;
  const child = spawn(process.execPath, [SELF, 'load', JSON.stringify(rest)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stdin.end(body);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as AutocannonResult) : reject(new Error(`load client exited with code ${code}`))));
  });
}

/** A running probe: `stop` ends it and gives its latencies. */
export interface Probe {
  stop(): Promise<ProbeResult>;
}

/**
 * Sequential GET `url` every `pauseMs` (a monitoring probe) from a child process, from when this
 * resolves (the child's first request, its connection and warm-up, is not timed) until `stop`. In
 * the server's process the probe's fetches would count as the server's CPU time and run on its
 * event loop.
 */
export async function startProbe(url: string, pauseMs = 20): Promise<Probe> {
  const child = spawn(process.execPath, [SELF, 'probe', JSON.stringify({ url, pauseMs })], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const exited = new Promise<number | null>((resolve, reject) => child.once('error', reject).once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) resolve();
    });
    void exited.then((code) => reject(new Error(`probe exited with code ${code} before it was ready`)), reject);
  });
  return {
    async stop() {
      child.stdin.end();
      const code = await exited;
      if (code !== 0) throw new Error(`probe exited with code ${code}`);
      return JSON.parse(out.slice(out.indexOf('\n') + 1)) as ProbeResult;
    },
  };
}

async function probe({ url, pauseMs }: { url: string; pauseMs: number }): Promise<ProbeResult> {
  let done = false;
  process.stdin.resume().once('end', () => (done = true));
  await (await fetch(url)).arrayBuffer();
  process.stdout.write('ready\n');
  const times: number[] = [];
  // at least one timed probe, however short the probed work
  do {
    const start = performance.now();
    await (await fetch(url)).arrayBuffer();
    times.push(performance.now() - start);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  } while (!done);
  times.sort((a, b) => a - b);
  const at = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]! * 10) / 10;
  return { count: times.length, p50: at(0.5), p99: at(0.99), max: at(1) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const options = JSON.parse(process.argv[3]!) as Record<string, unknown>;
  if (process.argv[2] === 'probe') {
    process.stdout.write(JSON.stringify(await probe(options as { url: string; pauseMs: number })));
  } else {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const autocannon = createRequire(import.meta.url)('autocannon') as (options: Record<string, unknown>) => Promise<AutocannonResult>;
    const result = await autocannon({ ...options, body: Buffer.concat(chunks) });
    const { requests, latency, errors, timeouts, non2xx, duration, statusCodeStats } = result;
    process.stdout.write(JSON.stringify({ requests, latency, errors, timeouts, non2xx, duration, statusCodeStats }));
  }
}
