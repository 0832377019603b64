import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openGallery } from '../src/gallery/open.js';
import type { FaceTemplate } from '../src/gallery/store.js';
import { encodeVector } from '../src/model-dir/gallery.js';
import { createRandom, type Random } from '../src/util/random.js';
import { round } from './timing.js';

const DIMS = 512;
/** Templates per enroll call (one transaction). */
const ENROL_BATCH = 1000;
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

/**
 * Synthetic 512-d unit vectors in the embedded PGlite store (pgvector HNSW) and in memory (exact
 * scan, what the file store does): search p50/p99, recall@1 of HNSW against the exact answer,
 * enrol throughput, disk and memory per 10^6 templates. BENCH_GALLERY_SIZES=10000,100000 (default 10000: PGlite enrols about 20 templates/s here, see README).
 */
export async function benchGallery(): Promise<Record<string, unknown>> {
  const sizes = (process.env.BENCH_GALLERY_SIZES ?? '10000').split(',').map(Number);
  const out: Record<string, unknown> = { dims: DIMS, queries: QUERIES, note: 'shared 2-core machine: timings are noisy' };
  for (const size of sizes) {
    const random = createRandom(size);
    const dir = await mkdtemp(path.join(tmpdir(), 'facetrain-bench-gallery-'));
    const rssBefore = process.memoryUsage().rss;
    const store = await openGallery(`pglite:${path.join(dir, 'pglite')}`, DIMS);
    const matrix = new Float32Array(size * DIMS);
    const enrolStart = performance.now();
    for (let start = 0; start < size; start += ENROL_BATCH) {
      const templates: FaceTemplate[] = [];
      for (let i = start; i < Math.min(size, start + ENROL_BATCH); i++) {
        const embedding = randomUnit(random);
        matrix.set(embedding, i * DIMS);
        templates.push({ photoHash: String(i), file: `${i}.jpg`, embedding });
      }
      // one person per batch: enrolment cost does not depend on how templates group into people
      await store.enroll(`person-${start / ENROL_BATCH}`, templates);
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[Kgallery ${size}: enrolled ${start + templates.length}`);
    }
    const enrolSeconds = (performance.now() - enrolStart) / 1000;
    const pgliteMs: number[] = [];
    const exactMs: number[] = [];
    let hits = 0;
    for (let q = 0; q < QUERIES; q++) {
      const target = Math.floor(random() * size);
      const query = nearCopy(matrix.subarray(target * DIMS, (target + 1) * DIMS), random);
      let t = performance.now();
      const exact = exactNearest(matrix, size, query);
      exactMs.push(performance.now() - t);
      t = performance.now();
      const [approx] = await store.nearest(query, 1);
      pgliteMs.push(performance.now() - t);
      if (approx?.photoHash === String(exact)) hits++;
    }
    pgliteMs.sort((a, b) => a - b);
    exactMs.sort((a, b) => a - b);
    const rss = process.memoryUsage().rss - rssBefore;
    await store.close();
    const disk = duBytes(dir);
    const perMillion = 1e6 / size;
    out[String(size)] = {
      pgliteHnswSearchMs: { p50: round(percentile(pgliteMs, 0.5)), p99: round(percentile(pgliteMs, 0.99)) },
      exactScanSearchMs: { p50: round(percentile(exactMs, 0.5)), p99: round(percentile(exactMs, 0.99)) },
      recallAt1: hits / QUERIES,
      enrolTemplatesPerSecond: round(size / enrolSeconds),
      pgliteDiskMBPer1e6: round((disk * perMillion) / 1e6),
      processRssMBPer1e6: round((rss * perMillion) / 1e6),
      // what gallery.json-style base64 storage of the same vectors would take
      jsonFileMBPer1e6: round((encodeVector(matrix.subarray(0, DIMS)).length + 120) * 1e6 / 1e6),
    };
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}
