import { readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../src/server/app.js';
import { startPgliteServer } from '../test/support/pglite-server.js';
import { phonePhoto } from '../test/support/phone-photo.js';
import { celebrityPhotos, trainTinyModel } from '../test/support/tiny-model.js';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;

const API_KEY = 'bench-gallery-servers-key-0123';

/**
 * Two `serve --gallery` servers (one recognition worker each: two cores) on one PostgreSQL-wire
 * gallery (pglite-server on loopback), both under load from autocannon at once; meanwhile a person
 * enrolled on the first is polled for on the second: requests/s, errors, and how long after the
 * enrolment's answer the other server lists the person. BENCH_GALLERY_SERVER_SECONDS (default 10).
 */
export async function benchGalleryServers(): Promise<Record<string, unknown>> {
  const seconds = Number(process.env.BENCH_GALLERY_SERVER_SECONDS ?? 10);
  const db = await startPgliteServer();
  const model = await trainTinyModel(['madonna', 'mindy_kaling'], { base: 'faceres', photosPerPerson: 3 });
  const servers: FastifyInstance[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const app = await buildServer({ modelDir: model.modelDir, gallery: db.url, apiKey: API_KEY, workers: 1, logLevel: 'silent' });
      servers.push(app);
      await app.listen({ port: 0, host: '127.0.0.1' });
    }
    const [a, b] = servers.map((s) => `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`) as [string, string];
    const enrol = async (base: string, person: string, files: string[]) => {
      const form = new FormData();
      for (const f of files) form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), path.basename(f));
      const r = await fetch(`${base}/v1/people/${person}/photos`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` }, body: form });
      if (r.status !== 201) throw new Error(`enrol on ${base}: ${r.status} ${await r.text()}`);
    };
    await enrol(a, 'madonna', await celebrityPhotos('madonna', 3));
    const frame = await phonePhoto((await celebrityPhotos('madonna', 1, 'val'))[0]!, { width: 640, height: 480, photoSide: 360 });
    const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
    const load = (base: string) => Promise.resolve(autocannon({ url: `${base}/v1/recognize`, method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: frame, connections: 4, duration: seconds }));
    await Promise.all([a, b].map((base) => autocannon({ url: `${base}/v1/recognize`, method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: frame, connections: 1, amount: 3 })));
    const loads = [load(a), load(b)];
    // under load: enrol on a, then poll b's people list until the person is there
    await new Promise((resolve) => setTimeout(resolve, (seconds * 1000) / 3));
    await enrol(a, 'mindy_kaling', await celebrityPhotos('mindy_kaling', 3));
    const enrolled = performance.now();
    let visibleAfterMs = -1;
    while (performance.now() - enrolled < 5000) {
      const people = ((await (await fetch(`${b}/v1/people`)).json()) as { people: string[] }).people;
      if (people.includes('mindy_kaling')) {
        visibleAfterMs = Math.round((performance.now() - enrolled) * 10) / 10;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const results = await Promise.all(loads);
    const summary = (r: AutocannonResult) => ({ requestsPerSecond: Math.round(r.requests.average * 10) / 10, latencyMs: { p50: r.latency.p50, p99: r.latency.p99 }, errors: r.errors + r.timeouts + r.non2xx });
    return {
      route: 'POST /v1/recognize (640x480 JPEG, one face) on two serve --gallery processes sharing one PostgreSQL-wire gallery',
      seconds,
      connectionsPerServer: 4,
      serverA: summary(results[0]!),
      serverB: summary(results[1]!),
      totalRequestsPerSecond: Math.round((results[0]!.requests.average + results[1]!.requests.average) * 10) / 10,
      enrolOnAVisibleOnBAfterMs: visibleAfterMs,
      note: 'both servers and the database in one 2-core machine shared with other work: timings are noisy',
    };
  } finally {
    for (const s of servers) await s.close();
    await db.stop();
    await rm(model.root, { recursive: true, force: true });
  }
}
