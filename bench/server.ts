import { readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { buildServer } from '../src/server/app.js';
import { TRAIN_DEFAULTS } from '../src/base/index.js';
import { phonePhoto } from '../test/support/phone-photo.js';
import { celebrityPhotos, trainTinyModel } from '../test/support/tiny-model.js';
import { loadFromChild, pacedFromChild, startProbe, type AutocannonResult } from './load-client.js';

export interface ServerBenchOptions {
  /** Seconds of load, at most 30; default 15. */
  seconds?: number;
  /** Concurrent connections, at most 50; default 8 (the server's default admission capacity). */
  connections?: number;
}

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

/**
 * Bounded load test of POST /v1/recognize on loopback: a tiny model trained on the fly, one real
 * JPEG sent raw, as many requests as `connections` keep going for `seconds`.
 */
export async function benchServer({ seconds = 15, connections = 8 }: ServerBenchOptions = {}): Promise<Record<string, unknown>> {
  const duration = Math.min(30, seconds);
  const clients = Math.min(50, connections);
  const model = await trainTinyModel(['ben_afflek', 'madonna', 'mindy_kaling']);
  const app = await buildServer({ modelDir: model.modelDir, maxInFlight: Math.max(8, clients) });
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/recognize`;
    const photo = await readFile((await celebrityPhotos('madonna', 1, 'val'))[0]!);
    const request = { url, method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: photo } as const;
    await loadFromChild({ ...request, connections: 1, amount: 5 }); // warm-up: first predictions compile wasm kernels
    const rssBefore = process.memoryUsage().rss;
    const result = await loadFromChild({ ...request, connections: clients, duration });
    const rssAfter = process.memoryUsage().rss;
    const errors = result.errors + result.timeouts + result.non2xx;
    if (errors > 0) throw new Error(`server bench: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx responses`);
    return {
      route: 'POST /v1/recognize (raw JPEG, whole-image MobileNetV2 0.35)',
      imageBytes: photo.length,
      connections: clients,
      seconds: result.duration,
      requests: result.requests.total,
      requestsPerSecond: Math.round(result.requests.average * 10) / 10,
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99, mean: Math.round(result.latency.average * 10) / 10, max: result.latency.max },
      errors,
      rssMb: { before: mb(rssBefore), after: mb(rssAfter) },
    };
  } finally {
    await app.close();
    await rm(model.root, { recursive: true, force: true });
  }
}

/** Waits until the server has no recognition in flight: a load run's last requests are still being answered when its client stops. */
async function settled(base: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const health = (await (await fetch(`${base}/healthz`)).json()) as { inFlight: number };
    if (health.inFlight === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** CPU milliseconds of this process (the server's event loop and its worker threads; the client runs in a child) per request of `run`. */
async function withCpu<T extends AutocannonResult>(run: Promise<T>): Promise<T & { cpuMsPerRequest: number; coresBusy: number }> {
  const before = process.cpuUsage();
  const started = performance.now();
  const result = await run;
  const used = process.cpuUsage(before);
  const ms = (used.user + used.system) / 1000;
  return { ...result, cpuMsPerRequest: Math.round((ms / Math.max(1, result.requests.total)) * 10) / 10, coresBusy: Math.round((ms / (performance.now() - started)) * 100) / 100 };
}

/**
 * The default face model (BlazeFace + 68 landmarks + MobileFaceNet + head, recognition in worker threads) on a 1-face
 * 640x480 JPEG: saturated throughput with `connections` (autocannon), latency at a fixed 30 req/s
 * (the paced client, and autocannon's `overallRate` beside it for comparison with earlier runs), and
 * /healthz latency under the saturated load and while a 40 MP JPEG is being recognized. The clients
 * run in child processes, and each run starts once the server has answered the previous run's
 * requests. When the server answers fewer than 30 a second, the paced client's queue grows for the
 * whole run and its latencies say so.
 */
export async function benchFaceServer({ seconds = 15, connections = 8 }: ServerBenchOptions = {}): Promise<Record<string, unknown>> {
  const duration = Math.min(30, seconds);
  const model = await trainTinyModel(['ben_afflek', 'madonna', 'mindy_kaling'], { base: TRAIN_DEFAULTS.base });
  const app = await buildServer({ modelDir: model.modelDir, maxInFlight: Math.max(8, connections), maxPixels: 50_000_000, maxBodyBytes: 20 * 1024 * 1024 });
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const source = (await celebrityPhotos('madonna', 1, 'val'))[0]!;
    const frame = await phonePhoto(source, { width: 640, height: 480, photoSide: 360 });
    const huge = await phonePhoto(source, { width: 7300, height: 5475, photoSide: 2400 });
    const request = { url: `${base}/v1/recognize`, method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: frame } as const;
    await loadFromChild({ ...request, connections: 2, amount: 10 });
    const hugeProbe = await startProbe(`${base}/healthz`);
    await fetch(`${base}/v1/recognize`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: new Uint8Array(huge) }).then((r) => r.json());
    const healthWhileHuge = await hugeProbe.stop();
    const loadProbe = await startProbe(`${base}/healthz`);
    const rssBefore = process.memoryUsage().rss;
    const load = await withCpu(loadFromChild({ ...request, connections, duration }));
    const healthUnderLoad = await loadProbe.stop();
    await settled(base);
    const paced = await withCpu(pacedFromChild({ ...request, connections, duration, rate: 30 }));
    await settled(base);
    const autocannonPaced = await withCpu(loadFromChild({ ...request, connections, duration, overallRate: 30 }));
    const rssAfter = process.memoryUsage().rss;
    const summary = (r: AutocannonResult & { cpuMsPerRequest: number; coresBusy: number }) => ({
      requestsPerSecond: Math.round(r.requests.average * 10) / 10,
      latencyMs: { p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max },
      errors: r.errors + r.timeouts + r.non2xx,
      statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([code, { count }]) => [code, count])),
      serverCpuMsPerRequest: r.cpuMsPerRequest,
      serverCoresBusy: r.coresBusy,
    });
    return {
      route: 'POST /v1/recognize (raw 640x480 JPEG, one face, default face model)',
      imageBytes: frame.length,
      connections,
      seconds: duration,
      saturated: summary(load),
      at30PerSecond: { ...summary(paced), client: 'one request every 33.3 ms, each timed from when it was due' },
      at30PerSecondAutocannon: { ...summary(autocannonPaced), client: 'autocannon overallRate 30: bursts of `connections` at each second, latencies recorded with 1 ms expected interval' },
      healthzUnderLoadMs: healthUnderLoad,
      healthzWhileRecognizing40MpMs: { ...healthWhileHuge, imageBytes: huge.length },
      rssMb: { before: mb(rssBefore), after: mb(rssAfter), note: 'main thread and worker threads together' },
    };
  } finally {
    await app.close();
    await rm(model.root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify({ wholeImage: await benchServer(), faces: await benchFaceServer() }, null, 2));
}
