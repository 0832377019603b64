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

/** This module run as a child with `mode` and its JSON `options`, sending `input` to its stdin: its JSON answer. */
function fromChild<T>(mode: 'load' | 'probe', options: object, input: (stdin: NodeJS.WritableStream) => void): Promise<T> {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, mode, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  input(child.stdin);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`${mode} client exited with code ${code}`))));
  });
}

/**
 * autocannon in a child process: the client's own work (writing requests, parsing answers, its
 * histograms) must not run on the server's event loop or count as the server's CPU time, as it
 * would in the server's process. The body goes over stdin, the result comes back as JSON.
 */
export function loadFromChild(options: LoadOptions): Promise<AutocannonResult> {
  const { body, ...rest } = options;
  return fromChild('load', rest, (stdin) => stdin.end(body));
}

/**
 * Sequential GET `url` every `pauseMs` (a monitoring probe) from a child process until `until`
 * settles: latency percentiles. In the server's process the probe's fetches would count as the
 * server's CPU time and run on its event loop.
 */
export function probeFromChild(url: string, until: Promise<unknown>, pauseMs = 20): Promise<ProbeResult> {
  return fromChild('probe', { url, pauseMs }, (stdin) => void until.finally(() => stdin.end()));
}

async function probe({ url, pauseMs }: { url: string; pauseMs: number }): Promise<ProbeResult> {
  let done = false;
  process.stdin.resume().once('end', () => (done = true));
  const times: number[] = [];
  // at least one probe: what is probed may be over before this process has started
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
