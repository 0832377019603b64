import { mkdtemp, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import usearch from 'usearch';
import { createRandom, type Random } from '../src/util/random.js';
import { round } from './timing.js';

/**
 * The HNSW trade-off of the embedded store's search index (usearch): recall@1 against exact search
 * and search p50/p99 for graph settings (connectivity, expansion_add, expansion_search), f32 vs i8,
 * against usearch's exact SIMD scan, on two kinds of data and at the two embedding lengths the
 * bases make (MobileFaceNet 192, FaceRes 512):
 * - `uniform`: random unit vectors, queries a noisy copy of a stored one (cosine about 0.7): no
 *   structure, every other vector about equally far, the worst case for a graph;
 * - `faces`: people of FACE_TEMPLATES templates each near their centre (two templates of one person
 *   at cosine about 0.5, as real embeddings of two photos of one face), queries a new photo of a
 *   stored person (a fresh draw around the centre).
 * expansion_search is a search-time setting: each graph is built once and loaded again under each.
 * BENCH_RECALL_SIZE (default 100000), BENCH_RECALL_CASES (dims-data, default
 * 512-uniform,192-faces,192-uniform,512-faces),
 * BENCH_RECALL_GRAPHS (connectivity/expansion_add[/i8], default 32/128,16/64; i8 vs f32 with
 * re-ranking is also in bench/gallery.ts), BENCH_RECALL_EF (256,512,1024,2048). Builds use both cores (the shape of the graph does not
 * depend on the thread count, only which of equally good links it keeps).
 */

const QUERIES = 300;
const FACE_TEMPLATES = 5;
const fraction = (count: number) => Math.round((count / QUERIES) * 1000) / 1000;

function gaussian(random: Random): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function normalise(row: Float32Array): void {
  let norm = 0;
  for (const x of row) norm += x * x;
  const scale = 1 / Math.sqrt(norm);
  for (let d = 0; d < row.length; d++) row[d] = row[d]! * scale;
}

/** A unit vector of `centre` plus gaussian noise of `sigma` per value (the centre's values have variance 1). */
function around(centre: Float32Array, sigma: number, random: Random): Float32Array {
  const v = Float32Array.from(centre, (c) => c + sigma * gaussian(random));
  normalise(v);
  return v;
}

export interface RecallData {
  matrix: Float32Array;
  queries: Float32Array[];
}

/**
 * Seeded templates and queries of one kind (see the file's comment). `faceCosine`: the cosine of
 * two templates of one person (noise of variance sigma^2 on a centre of variance 1 per value gives
 * 1 / (1 + sigma^2)).
 */
export function recallData(kind: 'uniform' | 'faces', size: number, dims: number, seed: number, faceCosine = 0.5): RecallData {
  const random = createRandom(seed);
  const matrix = new Float32Array(size * dims);
  const queries: Float32Array[] = [];
  if (kind === 'uniform') {
    for (let i = 0; i < size; i++) {
      const row = matrix.subarray(i * dims, (i + 1) * dims);
      for (let d = 0; d < dims; d++) row[d] = gaussian(random);
      normalise(row);
    }
    // noise of norm about 1 on a unit vector: cosine about 0.7 to it
    const sigma = 1 / Math.sqrt(dims);
    for (let q = 0; q < QUERIES; q++) {
      const target = Math.floor(random() * size);
      queries.push(around(matrix.subarray(target * dims, (target + 1) * dims).map((x) => x * Math.sqrt(dims)), 1, random));
      void sigma;
    }
    return { matrix, queries };
  }
  const people = Math.ceil(size / FACE_TEMPLATES);
  const centres = Array.from({ length: people }, () => Float32Array.from({ length: dims }, () => gaussian(random)));
  const sigma = Math.sqrt(1 / faceCosine - 1);
  for (let i = 0; i < size; i++) matrix.set(around(centres[Math.floor(i / FACE_TEMPLATES)]!, sigma, random), i * dims);
  for (let q = 0; q < QUERIES; q++) queries.push(around(centres[Math.floor(random() * people)]!, sigma, random));
  return { matrix, queries };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Latencies (ms, sorted) and the key found for each query. */
function timed(queries: Float32Array[], search: (q: Float32Array) => bigint): { ms: number[]; found: bigint[] } {
  const ms: number[] = [];
  const found = queries.map((q) => {
    const t = performance.now();
    const key = search(q);
    ms.push(performance.now() - t);
    return key;
  });
  ms.sort((a, b) => a - b);
  return { ms, found };
}

interface Graph {
  connectivity: number;
  expansionAdd: number;
  quantization: 'f32' | 'i8';
}

function parseGraphs(spec: string): Graph[] {
  return spec.split(',').map((g) => {
    const [connectivity, expansionAdd, quantization] = g.split('/');
    return { connectivity: Number(connectivity), expansionAdd: Number(expansionAdd), quantization: quantization === 'i8' ? 'i8' : 'f32' };
  });
}

function createIndex(dims: number, graph: Graph, expansionSearch: number) {
  return new usearch.Index({
    dimensions: dims,
    metric: usearch.MetricKind.IP,
    quantization: graph.quantization === 'i8' ? usearch.ScalarKind.I8 : usearch.ScalarKind.F32,
    connectivity: graph.connectivity,
    expansion_add: graph.expansionAdd,
    expansion_search: expansionSearch,
    multi: false,
  });
}

export async function benchGalleryRecall(): Promise<Record<string, unknown>> {
  const size = Number(process.env.BENCH_RECALL_SIZE ?? 100_000);
  const cases = (process.env.BENCH_RECALL_CASES ?? '512-uniform,192-faces,192-uniform,512-faces').split(',').map((c) => {
    const [dims, kind] = c.split('-');
    return { dims: Number(dims), kind: kind === 'faces' ? ('faces' as const) : ('uniform' as const) };
  });
  const graphs = parseGraphs(process.env.BENCH_RECALL_GRAPHS ?? '32/128,16/64');
  const efs = (process.env.BENCH_RECALL_EF ?? '256,512,1024,2048').split(',').map(Number);
  const out: Record<string, unknown> = { size, queries: QUERIES, note: 'shared 2-core machine: timings are noisy', loadAverageAtStart: loadavg().map(round) };
  const dir = await mkdtemp(path.join(tmpdir(), 'facetrain-bench-recall-'));
  try {
    for (const { dims, kind } of cases) {
      const { matrix, queries } = recallData(kind, size, dims, dims * 7 + (kind === 'faces' ? 1 : 0));
      const exact = timed(queries, (q) => (usearch.exactSearch(matrix, q, dims, 1, usearch.MetricKind.IP, 1) as { keys: BigUint64Array }).keys[0]!);
      const figures: Record<string, unknown> = { exactSearchMs: { p50: round(percentile(exact.ms, 0.5)), p99: round(percentile(exact.ms, 0.99)) } };
      const report = (name: string, value: unknown) => {
        figures[name] = value;
        process.stderr.write(`gallery-recall ${dims}-d ${kind} ${name}: ${JSON.stringify(value)}\n`);
      };
      for (const graph of graphs) {
        const name = `M${graph.connectivity}-add${graph.expansionAdd}-${graph.quantization}`;
        const built = createIndex(dims, graph, efs[0]!);
        const t = performance.now();
        built.add(BigUint64Array.from({ length: size }, (_, i) => BigInt(i)), matrix, 2);
        const addPerSecond = round(size / ((performance.now() - t) / 1000));
        const file = path.join(dir, `${name}.usearch`);
        built.save(file);
        const row: Record<string, unknown> = { addTemplatesPerSecondTwoThreads: addPerSecond, fileMBPer1e6: round(((await stat(file)).size * (1e6 / size)) / 1e6) };
        for (const ef of efs) {
          const index = createIndex(dims, graph, ef);
          index.load(file);
          const { ms, found } = timed(queries, (q) => index.search(q, 1, 1).keys[0] ?? -1n);
          const hits = found.filter((key, i) => key === exact.found[i]).length;
          // what the unknown rule reads: the nearest template's person (faces: FACE_TEMPLATES rows per person)
          const samePerson = kind === 'faces' ? found.filter((key, i) => key / BigInt(FACE_TEMPLATES) === exact.found[i]! / BigInt(FACE_TEMPLATES)).length : hits;
          row[`ef${ef}`] = { recallAt1: fraction(hits), samePersonAt1: fraction(samePerson), p50: round(percentile(ms, 0.5)), p99: round(percentile(ms, 0.99)) };
        }
        report(name, row);
        await rm(file);
      }
      out[`${dims}-${kind}`] = { ...figures, loadAverage: loadavg().map(round) };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}
