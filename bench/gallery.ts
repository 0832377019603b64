import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import usearch from 'usearch';
import { openGallery } from '../src/gallery/open.js';
import { binaryCopyStream } from '../src/gallery/sql-store.js';
import type { FaceTemplate } from '../src/gallery/store.js';
import { encodeVector } from '../src/model-dir/gallery.js';
import { createRandom, type Random } from '../src/util/random.js';
import { round } from './timing.js';

const DIMS = 512;
/** Templates per enroll call (one transaction, one binary COPY). */
const ENROL_BATCH = 10_000;
const QUERIES = 200;

function gaussian(random: Random): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function unit(v: Float32Array): Float32Array {
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  return v.map((x) => x / norm);
}

function randomUnit(random: Random): Float32Array {
  return unit(Float32Array.from({ length: DIMS }, () => gaussian(random)));
}

/** A new photo of an enrolled person: their template plus noise (cosine about 0.7 to it). */
function nearCopy(v: Float32Array, random: Random): Float32Array {
  return unit(v.map((x) => x + gaussian(random) * 0.045));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Exact nearest neighbour by a scan of every template: the reference, and the file store's search. */
function exactNearest(matrix: Float32Array, count: number, q: Float32Array): number {
  let best = -Infinity;
  let bestIndex = -1;
  for (let i = 0; i < count; i++) {
    let dot = 0;
    const offset = i * DIMS;
    for (let d = 0; d < DIMS; d++) dot += matrix[offset + d]! * q[d]!;
    if (dot > best) [best, bestIndex] = [dot, i];
  }
  return bestIndex;
}

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

interface SearchFigures {
  p50: number;
  p99: number;
  recallAt1: number;
}

/** Latency percentiles and recall@1 of `search` against the exact nearest neighbour, on the same queries. */
async function measureSearch(queries: { vector: Float32Array; exact: number }[], search: (q: Float32Array) => Promise<number> | number): Promise<SearchFigures> {
  const ms: number[] = [];
  let hits = 0;
  for (const q of queries) {
    const t = performance.now();
    const found = await search(q.vector);
    ms.push(performance.now() - t);
    if (found === q.exact) hits++;
  }
  ms.sort((a, b) => a - b);
  return { p50: round(percentile(ms, 0.5)), p99: round(percentile(ms, 0.99)), recallAt1: hits / queries.length };
}

const perMillionMB = (bytes: number, size: number) => round((bytes * (1e6 / size)) / 1e6);

/** The facetrain store on embedded PGlite: enrolment through `enroll` (binary COPY, HNSW index updated row by row). */
async function pgliteStore(matrix: Float32Array, size: number, queries: { vector: Float32Array; exact: number }[]): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'facetrain-bench-gallery-'));
  const rssBefore = process.memoryUsage().rss;
  const store = await openGallery(`pglite:${path.join(dir, 'pglite')}`, DIMS);
  const started = performance.now();
  for (let start = 0; start < size; start += ENROL_BATCH) {
    const templates: FaceTemplate[] = [];
    for (let i = start; i < Math.min(size, start + ENROL_BATCH); i++) templates.push({ photoHash: String(i), file: `${i}.jpg`, embedding: matrix.subarray(i * DIMS, (i + 1) * DIMS) });
    // one person per batch: enrolment cost does not depend on how templates group into people
    await store.enroll(`person-${start / ENROL_BATCH}`, templates);
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[Kgallery ${size}: PGlite enrolled ${start + templates.length}`);
  }
  const enrolSeconds = (performance.now() - started) / 1000;
  const search = await measureSearch(queries, async (q) => Number((await store.nearest(q, 1))[0]?.photoHash ?? -1));
  const rss = process.memoryUsage().rss - rssBefore;
  await store.close();
  const disk = duBytes(dir);
  await rm(dir, { recursive: true, force: true });
  return { searchMs: { p50: search.p50, p99: search.p99 }, recallAt1: search.recallAt1, enrolTemplatesPerSecond: round(size / enrolSeconds), diskMBPer1e6: perMillionMB(disk, size), processRssMBPer1e6: perMillionMB(rss, size) };
}

/** The other order on the same engine: every row copied first, the HNSW index built once afterwards. */
async function pgliteIndexAfterLoad(matrix: Float32Array, size: number): Promise<Record<string, unknown>> {
  const db = await PGlite.create('memory://', { extensions: { vector } });
  try {
    await db.query('CREATE EXTENSION vector');
    await db.query(`CREATE TABLE t (id text PRIMARY KEY, embedding vector(${DIMS}))`);
    let started = performance.now();
    for (let start = 0; start < size; start += ENROL_BATCH) {
      const rows = [];
      for (let i = start; i < Math.min(size, start + ENROL_BATCH); i++) rows.push([String(i), matrix.subarray(i * DIMS, (i + 1) * DIMS)]);
      await db.query(`COPY t FROM '/dev/blob' WITH (FORMAT binary)`, [], { blob: new Blob([binaryCopyStream(rows)]) });
    }
    const copySeconds = (performance.now() - started) / 1000;
    started = performance.now();
    await db.query(`SET maintenance_work_mem = '1GB'`);
    await db.query('CREATE INDEX ON t USING hnsw (embedding vector_ip_ops)');
    const indexSeconds = (performance.now() - started) / 1000;
    return { copyTemplatesPerSecond: round(size / copySeconds), indexBuildSeconds: round(indexSeconds), templatesPerSecond: round(size / (copySeconds + indexSeconds)) };
  } finally {
    await db.close();
  }
}

/** usearch (native HNSW, SIMD, both cores for adding): the embedded engine PGlite is compared with. */
async function usearchIndex(matrix: Float32Array, size: number, queries: { vector: Float32Array; exact: number }[]): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'facetrain-bench-usearch-'));
  const rssBefore = process.memoryUsage().rss;
  const index = new usearch.Index({ dimensions: DIMS, metric: usearch.MetricKind.IP, quantization: usearch.ScalarKind.F32, connectivity: 16, expansion_add: 128, expansion_search: 100, multi: false });
  const started = performance.now();
  for (let start = 0; start < size; start += ENROL_BATCH) {
    const count = Math.min(ENROL_BATCH, size - start);
    index.add(BigUint64Array.from({ length: count }, (_, i) => BigInt(start + i)), matrix.subarray(start * DIMS, (start + count) * DIMS), 2);
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[Kgallery ${size}: usearch added ${start + count}`);
  }
  const addSeconds = (performance.now() - started) / 1000;
  const search = await measureSearch(queries, (q) => Number(index.search(q, 1, 1).keys[0] ?? -1n));
  const rss = process.memoryUsage().rss - rssBefore;
  const file = path.join(dir, 'index.usearch');
  index.save(file);
  const disk = (await stat(file)).size;
  await rm(dir, { recursive: true, force: true });
  return { searchMs: { p50: search.p50, p99: search.p99 }, recallAt1: search.recallAt1, enrolTemplatesPerSecond: round(size / addSeconds), diskMBPer1e6: perMillionMB(disk, size), processRssMBPer1e6: perMillionMB(rss, size) };
}

/**
 * Synthetic 512-d unit vectors: the embedded PGlite store (pgvector HNSW; enrolled through the
 * store, and built after a bulk load), usearch, and an exact scan (what the file store does):
 * search p50/p99, recall@1 against the exact answer, enrol throughput, disk and memory per 10^6
 * templates. BENCH_GALLERY_SIZES=10000,100000,1000000 (default 10000; how long each takes is in
 * the README); BENCH_GALLERY_ENGINES=pglite,pglite-after-load,usearch picks engines.
 */
export async function benchGallery(): Promise<Record<string, unknown>> {
  const sizes = (process.env.BENCH_GALLERY_SIZES ?? '10000').split(',').map(Number);
  const engines = new Set((process.env.BENCH_GALLERY_ENGINES ?? 'pglite,pglite-after-load,usearch').split(','));
  const out: Record<string, unknown> = { dims: DIMS, queries: QUERIES, note: 'shared 2-core machine: timings are noisy' };
  for (const size of sizes) {
    const random = createRandom(size);
    const matrix = new Float32Array(size * DIMS);
    for (let i = 0; i < size; i++) matrix.set(randomUnit(random), i * DIMS);
    const exactMs: number[] = [];
    const queries = Array.from({ length: QUERIES }, () => {
      const target = Math.floor(random() * size);
      const query = nearCopy(matrix.subarray(target * DIMS, (target + 1) * DIMS), random);
      const t = performance.now();
      const exact = exactNearest(matrix, size, query);
      exactMs.push(performance.now() - t);
      return { vector: query, exact };
    });
    exactMs.sort((a, b) => a - b);
    const figures: Record<string, unknown> = {
      exactScanSearchMs: { p50: round(percentile(exactMs, 0.5)), p99: round(percentile(exactMs, 0.99)) },
      // what gallery.json-style base64 storage of the same vectors would take
      jsonFileMBPer1e6: round(encodeVector(matrix.subarray(0, DIMS)).length + 120),
    };
    const started = performance.now();
    if (engines.has('usearch')) figures.usearch = await usearchIndex(matrix, size, queries);
    if (engines.has('pglite-after-load')) figures.pgliteIndexAfterLoad = await pgliteIndexAfterLoad(matrix, size);
    if (engines.has('pglite')) figures.pglite = await pgliteStore(matrix, size, queries);
    figures.benchSeconds = round((performance.now() - started) / 1000);
    out[String(size)] = figures;
  }
  return out;
}
