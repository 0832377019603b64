import { spawn } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
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

/** Requests sent at a fixed rate, whatever the answers do (an open loop: camera frames arriving). */
export interface PacedOptions {
  url: string;
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  body: Uint8Array;
  /** Keep-alive connections at most; a request due while every one is busy waits for one, and that wait counts in its latency. */
  connections: number;
  /** Requests per second, evenly spaced. */
  rate: number;
  duration: number;
}

/** The `q` quantile of ascending `sorted` milliseconds, to 0.1 ms. */
function percentile(sorted: number[], q: number): number {
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10;
}

const SELF = new URL(import.meta.url).pathname;

/** Runs this file in a child process in `mode`; the body goes over stdin, the result comes back as JSON. */
function fromChild<T>(mode: 'load' | 'paced', options: { body: Uint8Array }): Promise<T> {
  const { body, ...rest } = options;
  const child = spawn(process.execPath, [SELF, mode, JSON.stringify(rest)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stdin.end(body);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`load client exited with code ${code}`))));
  });
}

/**
 * autocannon in a child process: the client's own work (writing requests, parsing answers, its
 * histograms) must not run on the server's event loop or count as the server's CPU time, as it
 * would in the server's process.
 */
export function loadFromChild(options: LoadOptions): Promise<AutocannonResult> {
  return fromChild('load', options);
}

/**
 * `rate` requests a second, one every 1/rate s, from a child process, each timed from when it was
 * due (so a request held back by a busy connection or a late client counts its wait). autocannon's
 * `overallRate` is no fixed rate: each connection sends back to back until it has made its share of
 * the second, then waits for the next second, so every second starts with a burst as deep as the
 * connections; and it records each latency with an expected interval of 1 ms, which adds a made-up
 * sample for every millisecond below it.
 */
export function pacedFromChild(options: PacedOptions): Promise<AutocannonResult> {
  return fromChild('paced', options);
}

async function paced({ url, method, headers, connections, rate, duration }: Omit<PacedOptions, 'body'>, body: Buffer): Promise<AutocannonResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  const codes: Record<string, { count: number }> = {};
  let errors = 0;
  let timeouts = 0;
  let non2xx = 0;
  const send = (due: number) => new Promise<void>((resolve) => {
    let timedOut = false;
    const req = httpRequest(url, { method, headers: { ...headers, 'content-length': String(body.length) }, agent, timeout: 10_000 }, (res) => {
      res.resume().once('end', () => {
        const code = String(res.statusCode);
        codes[code] = { count: (codes[code]?.count ?? 0) + 1 };
        if (res.statusCode! < 200 || res.statusCode! > 299) non2xx++;
        else latencies.push(performance.now() - due);
        resolve();
      });
    });
    req.once('timeout', () => {
      timedOut = true;
      timeouts++;
      req.destroy();
    });
    req.once('error', () => {
      if (!timedOut) errors++;
      resolve();
    });
    req.end(body);
  });
  const interval = 1000 / rate;
  const total = Math.round(rate * duration);
  const start = performance.now();
  const sent: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    sent.push(send(due));
  }
  await Promise.all(sent);
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => percentile(latencies, q);
  const average = latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length);
  return {
    requests: { average: total / seconds, total },
    latency: { p50: at(0.5), p99: at(0.99), average, max: at(1) },
    errors, timeouts, non2xx, duration: seconds, statusCodeStats: codes,
  };
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
  return { count: times.length, p50: percentile(times, 0.5), p99: percentile(times, 0.99), max: percentile(times, 1) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const options = JSON.parse(process.argv[3]!) as Record<string, unknown>;
  if (process.argv[2] === 'probe') {
    process.stdout.write(JSON.stringify(await probe(options as { url: string; pauseMs: number })));
  } else {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    if (process.argv[2] === 'paced') {
      process.stdout.write(JSON.stringify(await paced(options as unknown as Omit<PacedOptions, 'body'>, Buffer.concat(chunks))));
    } else {
      const autocannon = createRequire(import.meta.url)('autocannon') as (options: Record<string, unknown>) => Promise<AutocannonResult>;
      const result = await autocannon({ ...options, body: Buffer.concat(chunks) });
      const { requests, latency, errors, timeouts, non2xx, duration, statusCodeStats } = result;
      process.stdout.write(JSON.stringify({ requests, latency, errors, timeouts, non2xx, duration, statusCodeStats }));
    }
  }
}
