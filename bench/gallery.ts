import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import usearch from 'usearch';
import { openGallery } from '../src/gallery/open.js';
import pg from 'pg';
import { binaryCopyStream, HNSW_EF_SEARCH, vectorBinary, vectorLiteral } from '../src/gallery/sql-store.js';
import type { FaceTemplate, GalleryStore } from '../src/gallery/store.js';
import { GraphShards, HNSW_SETTINGS } from '../src/gallery/graph-shards.js';
import { encodeVector } from '../src/model-dir/gallery.js';
import { unitVectorIndex } from '../src/util/usearch-index.js';
import { createRandom, type Random } from '../src/util/random.js';
import { startPgliteServer } from '../test/support/pglite-server.js';
import { recallData } from './gallery-recall.js';
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

interface Query {
  vector: Float32Array;
  /** The row of the exact nearest neighbour among the templates searched. */
  exact: number;
}

/**
 * QUERIES noisy copies of templates among the first `count` rows, with their exact nearest row among
 * them (usearch's SIMD exact scan on both cores); `exactMs` gets the time of a JS scan (what the file store does) per query.
 */
function queriesFor(matrix: Float32Array, count: number, random: Random, exactMs?: number[]): Query[] {
  const rows = matrix.subarray(0, count * DIMS);
  return Array.from({ length: QUERIES }, () => {
    const target = Math.floor(random() * count);
    const vector = nearCopy(rows.subarray(target * DIMS, (target + 1) * DIMS), random);
    if (!exactMs) return { vector, exact: Number(usearch.exactSearch(rows, vector, DIMS, 1, usearch.MetricKind.IP, 2).keys[0]) };
    const t = performance.now();
    const exact = exactNearest(rows, count, vector);
    exactMs.push(performance.now() - t);
    return { vector, exact };
  });
}

/** Sizes at which a long enrolment stops to measure search and recall (BENCH_GALLERY_CHECKPOINTS, multiples of ENROL_BATCH): a run stopped later keeps them. */
const CHECKPOINTS = (process.env.BENCH_GALLERY_CHECKPOINTS ?? '').split(',').filter(Boolean).map(Number);

/** Search (k = 1 and k = RECOGNITION_K), recall@1 on queries among the `count` templates enrolled so far, enrol rate, memory and disk so far. */
async function checkpoint(store: GalleryStore, matrix: Float32Array, count: number, dir: string, embedded: boolean, enrolSeconds: number, rssBefore: number): Promise<Record<string, unknown>> {
  const queries = queriesFor(matrix, count, createRandom(count + 1));
  const search = await measureSearch(queries, async (q) => Number((await store.nearest(q, 1))[0]?.photoHash ?? -1));
  const recognition = await measureSearch(queries, async (q) => Number((await store.nearest(q, RECOGNITION_K))[0]?.photoHash ?? -1));
  return {
    searchMs: { p50: search.p50, p99: search.p99 },
    recallAt1: search.recallAt1,
    [`searchK${RECOGNITION_K}Ms`]: { p50: recognition.p50, p99: recognition.p99 },
    enrolTemplatesPerSecondSoFar: round(count / enrolSeconds),
    processRssMBPer1e6: perMillionMB(process.memoryUsage().rss - rssBefore, count),
    // the embedded store's files (the graph is saved on close: this is PGlite's share); a server's database is elsewhere
    ...(embedded && { databaseDiskMBPer1e6: perMillionMB(duBytes(dir), count) }),
    loadAverage: loadavg().map(round),
    at: new Date().toISOString(),
  };
}

interface SearchFigures {
  p50: number;
  p99: number;
  recallAt1: number;
}

/** Latency percentiles and recall@1 of `search` against the exact nearest neighbour, on the same queries. */
async function measureSearch(queries: Query[], search: (q: Float32Array) => Promise<number> | number): Promise<SearchFigures> {
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

/** Search latency of `nearest(q, k)` for the k recognition asks for (a top-k of people from up to 50 templates). */
const RECOGNITION_K = 50;

/**
 * A facetrain store through `openGallery`, as the commands use it: enrolment in batches of
 * ENROL_BATCH (one transaction each), close (the embedded store saves its search index), reopen,
 * search; for the embedded store also a rebuild of its index from PGlite and a forget.
 */
async function galleryStore(url: (dir: string) => string, matrix: Float32Array, size: number, queries: Query[], label: string): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'facetrain-bench-gallery-'));
  const rssBefore = process.memoryUsage().rss;
  const location = url(path.join(dir, 'gallery'));
  let store = await openGallery(location, DIMS);
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const serverCpuBefore = childrenCpuSeconds();
  const checkpoints = new Set(CHECKPOINTS.filter((c) => c < size));
  const checkpointFigures: Record<string, unknown> = {};
  let searchSeconds = 0;
  let searchCpuSeconds = 0;
  for (let start = 0; start < size; start += ENROL_BATCH) {
    const templates: FaceTemplate[] = [];
    for (let i = start; i < Math.min(size, start + ENROL_BATCH); i++) templates.push({ photoHash: String(i), file: `${i}.jpg`, embedding: matrix.subarray(i * DIMS, (i + 1) * DIMS) });
    // one person per batch: enrolment cost does not depend on how templates group into people
    await store.enroll(`person-${start / ENROL_BATCH}`, templates);
    const enrolled = start + templates.length;
    progress(`gallery ${size}: ${label} enrolled`, enrolled, started, searchSeconds);
    if (checkpoints.has(enrolled)) {
      const t = performance.now();
      const cpu = process.cpuUsage();
      checkpointFigures[String(enrolled)] = await checkpoint(store, matrix, enrolled, dir, location.startsWith('pglite:'), (performance.now() - started) / 1000 - searchSeconds, rssBefore);
      process.stderr.write(`gallery ${size} ${label} at ${enrolled}: ${JSON.stringify(checkpointFigures[String(enrolled)])}\n`);
      searchSeconds += (performance.now() - t) / 1000;
      const used = process.cpuUsage(cpu);
      searchCpuSeconds += (used.user + used.system) / 1e6;
    }
  }
  // the checkpoints' searches are not enrolment time
  const enrolSeconds = (performance.now() - started) / 1000 - searchSeconds;
  const enrolCpuPerWall = round(cpuPerWall(cpuBefore, enrolSeconds) - searchCpuSeconds / enrolSeconds);
  // pglite-server's CPU, for the PostgreSQL-wire store (0 for the embedded one, which has no child)
  const enrolServerCpuSeconds = round(childrenCpuSeconds() - serverCpuBefore);
  let t = performance.now();
  await store.close();
  const closeSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  store = await openGallery(location, DIMS);
  const openSeconds = (performance.now() - t) / 1000;
  const search = await measureSearch(queries, async (q) => Number((await store.nearest(q, 1))[0]?.photoHash ?? -1));
  const recognition = await measureSearch(queries, async (q) => Number((await store.nearest(q, RECOGNITION_K))[0]?.photoHash ?? -1));
  const rss = process.memoryUsage().rss - rssBefore;
  const figures: Record<string, unknown> = {
    searchMs: { p50: search.p50, p99: search.p99 },
    recallAt1: search.recallAt1,
    [`searchK${RECOGNITION_K}Ms`]: { p50: recognition.p50, p99: recognition.p99 },
    enrolTemplatesPerSecond: round(size / enrolSeconds),
    enrolCpuPerWall,
    ...(enrolServerCpuSeconds > 0 && { enrolServerCpuSeconds }),
    closeSeconds: round(closeSeconds),
    reopenSeconds: round(openSeconds),
    processRssMBPer1e6: perMillionMB(rss, size),
    ...(checkpoints.size > 0 && { checkpoints: checkpointFigures }),
  };
  // before the forget and rebuild, which take minutes at 10^6: a run stopped there keeps these
  process.stderr.write(`gallery ${size} ${label} so far: ${JSON.stringify(figures)}\n`);
  if (location.startsWith('pglite:')) {
    if (process.env.BENCH_GALLERY_FORGET !== '0') {
      // one person of five photos, as `forget` usually removes
      await store.enroll('forgotten', Array.from({ length: 5 }, (_, i) => ({ photoHash: `forgotten-${i}`, file: `forgotten-${i}.jpg`, embedding: queries[i]!.vector })));
      t = performance.now();
      await store.forget('forgotten');
      figures.forgetFivePhotosSeconds = round((performance.now() - t) / 1000);
    }
    await store.close();
    const indexFiles = (await readdir(path.join(dir, 'gallery'))).filter((f) => f.endsWith('.usearch')).map((f) => path.join(dir, 'gallery', f));
    let indexBytes = 0;
    for (const file of indexFiles) indexBytes += (await stat(file)).size;
    figures.indexFilesMBPer1e6 = perMillionMB(indexBytes, size);
    if (EXPANSION_SEARCH.length > 0) figures.savedGraphByExpansionSearch = searchSavedGraph(indexFiles, matrix, queries);
    figures.diskMBPer1e6 = perMillionMB(duBytes(dir), size);
    if (process.env.BENCH_GALLERY_REBUILD !== '0') {
      for (const file of indexFiles) await rm(file);
      t = performance.now();
      store = await openGallery(location, DIMS);
      figures.indexRebuildSeconds = round((performance.now() - t) / 1000);
      await store.close();
    }
  } else await store.close();
  await rm(dir, { recursive: true, force: true });
  return figures;
}

/** expansion_search values the store's saved graph is searched with again (BENCH_GALLERY_EF, e.g. 128,256,512,1024; none by default). */
const EXPANSION_SEARCH = (process.env.BENCH_GALLERY_EF ?? '').split(',').filter(Boolean).map(Number);

/**
 * The embedded store's graph as it saved it (one file per shard), loaded again under each
 * EXPANSION_SEARCH: recall@1 against exact (the nearest found has the exact nearest's similarity:
 * row ids are PostgreSQL's, not the bench's rows) and p50/p99 of searching both shards one after
 * the other on this thread (the store searches them at once on two: compare with its own figure).
 */
function searchSavedGraph(files: string[], matrix: Float32Array, queries: Query[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const expansionSearch of EXPANSION_SEARCH) {
    const shards = files.map((file) => {
      const index = unitVectorIndex(DIMS, { ...HNSW_SETTINGS, expansionSearch });
      index.load(file);
      return index;
    });
    const ms: number[] = [];
    let hits = 0;
    for (const q of queries) {
      const t = performance.now();
      const nearest = Math.min(...shards.map((index) => index.search(q.vector, 1, 1).distances[0] ?? Infinity));
      ms.push(performance.now() - t);
      if (Math.abs(1 - nearest - dot(matrix, q.exact, q.vector)) < 1e-5) hits++;
    }
    ms.sort((a, b) => a - b);
    out[`ef${expansionSearch}`] = { recallAt1: hits / queries.length, p50: round(percentile(ms, 0.5)), p99: round(percentile(ms, 0.99)) };
  }
  return out;
}

/** pgvector's hnsw.ef_search values the after-load index is searched with: its default, the store's (HNSW_EF_SEARCH) and one between. */
const PGVECTOR_EF_SEARCH = [40, 100, 400, HNSW_EF_SEARCH];

/** The other order on the same engine: every row copied first, the HNSW index built once afterwards, then searched at PGVECTOR_EF_SEARCH. */
async function pgliteIndexAfterLoad(matrix: Float32Array, size: number, queries: Query[]): Promise<Record<string, unknown>> {
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
    const figures: Record<string, unknown> = { copyTemplatesPerSecond: round(size / copySeconds), indexBuildSeconds: round(indexSeconds), templatesPerSecond: round(size / (copySeconds + indexSeconds)) };
    for (const ef of PGVECTOR_EF_SEARCH) {
      await db.query(`SET hnsw.ef_search = ${ef}`);
      figures[`efSearch${ef}`] = await measureSearch(queries, async (q) => Number((await db.query<{ id: string }>('SELECT id FROM t ORDER BY embedding <#> $1::vector LIMIT 1', [vectorLiteral(q)])).rows[0]?.id ?? -1));
    }
    return figures;
  } finally {
    await db.close();
  }
}

/**
 * The PostgreSQL-wire store loaded as a production user loads a large gallery: the schema made by
 * `openGallery`, pgvector's HNSW index dropped, the rows inserted in bulk (multi-row INSERTs of
 * INSERT_ROWS with each vector a binary parameter, read by the server with no text to parse, as
 * binary COPY does), the index built once, then searched through the store.
 */
async function postgresWireBulk(url: string, matrix: Float32Array, size: number, queries: Query[]): Promise<Record<string, unknown>> {
  await (await openGallery(url, DIMS)).close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let figures: Record<string, unknown>;
  try {
    await client.query('DROP INDEX facetrain_templates_embedding');
    await client.query(`INSERT INTO facetrain_people (name) VALUES ('bulk')`);
    let started = performance.now();
    let cpuBefore = childrenCpuSeconds();
    for (let start = 0; start < size; start += INSERT_ROWS) {
      const count = Math.min(INSERT_ROWS, size - start);
      const values = Array.from({ length: count }, (_, r) => `('bulk', $${3 * r + 1}, $${3 * r + 2}, $${3 * r + 3}::vector)`).join(', ');
      const params = Array.from({ length: count }, (_, r) => [String(start + r), `${start + r}.jpg`, vectorBinary(matrix.subarray((start + r) * DIMS, (start + r + 1) * DIMS))]).flat();
      await client.query(`INSERT INTO facetrain_templates (person, photo_hash, file, embedding) VALUES ${values}`, params);
      progress(`gallery ${size}: postgres-wire bulk inserted`, start + count, started);
    }
    const loadSeconds = (performance.now() - started) / 1000;
    const loadCpuSeconds = childrenCpuSeconds() - cpuBefore;
    started = performance.now();
    cpuBefore = childrenCpuSeconds();
    // PGlite's 32-bit WebAssembly heap caps it below 2 GB
    await client.query(`SET maintenance_work_mem = '1GB'`);
    await client.query('CREATE INDEX facetrain_templates_embedding ON facetrain_templates USING hnsw (embedding vector_ip_ops)');
    const indexSeconds = (performance.now() - started) / 1000;
    const indexCpuSeconds = childrenCpuSeconds() - cpuBefore;
    const { rows } = await client.query<{ table: string; index: string }>(`SELECT pg_total_relation_size('facetrain_templates') AS table, pg_relation_size('facetrain_templates_embedding') AS index`);
    figures = {
      insertTemplatesPerSecond: round(size / loadSeconds),
      insertServerCpuSeconds: round(loadCpuSeconds),
      indexBuildSeconds: round(indexSeconds),
      indexBuildServerCpuSeconds: round(indexCpuSeconds),
      templatesPerSecondLoadAndIndex: round(size / (loadSeconds + indexSeconds)),
      // what a PostgreSQL server would keep on disk (pglite-server here keeps it in memory)
      tableAndIndexesMBPer1e6: perMillionMB(Number(rows[0]!.table), size),
      hnswIndexMBPer1e6: perMillionMB(Number(rows[0]!.index), size),
    };
  } finally {
    await client.end();
  }
  const store = await openGallery(url, DIMS);
  try {
    const search = await measureSearch(queries, async (q) => Number((await store.nearest(q, 1))[0]?.photoHash ?? -1));
    const recognition = await measureSearch(queries, async (q) => Number((await store.nearest(q, RECOGNITION_K))[0]?.photoHash ?? -1));
    return { ...figures, searchMs: { p50: search.p50, p99: search.p99 }, recallAt1: search.recallAt1, [`searchK${RECOGNITION_K}Ms`]: { p50: recognition.p50, p99: recognition.p99 } };
  } finally {
    await store.close();
  }
}

/** CPU seconds used so far by this process's children (pglite-server): its PostgreSQL runs there, not in this process. */
function childrenCpuSeconds(): number {
  const out = execFileSync('ps', ['-o', 'cputimes=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean).reduce((sum, line) => sum + Number(line.trim()), 0);
}

/** Rows per multi-row INSERT of the bulk load: 3 parameters each, well under PostgreSQL's 65535. */
const INSERT_ROWS = 1000;

/** Candidates an f16/i8 index would have to re-rank on the true vectors (kept elsewhere) to give exact answers. */
const RERANK = 32;

function dot(matrix: Float32Array, row: number, q: Float32Array): number {
  let sum = 0;
  for (let d = 0, offset = row * DIMS; d < DIMS; d++) sum += matrix[offset + d]! * q[d]!;
  return sum;
}

/** Seconds of CPU (every thread of the process) per second of wall time since `before`: about 2 when both cores work. */
function cpuPerWall(before: NodeJS.CpuUsage, wallSeconds: number): number {
  const used = process.cpuUsage(before);
  return round((used.user + used.system) / 1e6 / wallSeconds);
}

let lastProgress = { done: 0, seconds: 0 };
/**
 * A line per 50,000 templates (and a live counter on a TTY): a long run logged to a file says how
 * far it got, its rate overall and since the previous line; `pausedSeconds` (checkpoints' searches) is not adding time.
 */
function progress(what: string, done: number, started: number, pausedSeconds = 0): void {
  const seconds = (performance.now() - started) / 1000 - pausedSeconds;
  if (done < lastProgress.done) lastProgress = { done: 0, seconds: 0 };
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${what} ${done}`);
  else if (Math.floor(done / 50_000) > Math.floor(lastProgress.done / 50_000)) {
    const recent = round((done - lastProgress.done) / (seconds - lastProgress.seconds));
    process.stderr.write(`${new Date().toISOString()} ${what} ${done} in ${round(seconds)} s (${round(done / seconds)} templates/s, ${recent}/s since ${lastProgress.done}, load ${loadavg().map(round).join(' ')})\n`);
    lastProgress = { done, seconds };
  }
}

/**
 * The store's graph alone (GraphShards, no PGlite) against one usearch index built on one thread
 * (the store's graph before it was sharded), with the same settings and rows in the same order:
 * build rate, CPU per wall second (2 = both cores), search and recall@1.
 */
async function graphBuild(matrix: Float32Array, size: number, queries: Query[], layout: 'one-thread' | 'sharded'): Promise<Record<string, unknown>> {
  const rssBefore = process.memoryUsage().rss;
  const single = layout === 'one-thread' ? new usearch.Index({ dimensions: DIMS, metric: usearch.MetricKind.IP, quantization: usearch.ScalarKind.F32, connectivity: HNSW_SETTINGS.connectivity, expansion_add: HNSW_SETTINGS.expansionAdd, expansion_search: HNSW_SETTINGS.expansionSearch, multi: false }) : undefined;
  const shards = layout === 'sharded' ? await GraphShards.start(DIMS) : undefined;
  try {
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    for (let start = 0; start < size; start += ENROL_BATCH) {
      const count = Math.min(ENROL_BATCH, size - start);
      const ids = BigUint64Array.from({ length: count }, (_, i) => BigInt(start + i));
      const vectors = matrix.subarray(start * DIMS, (start + count) * DIMS);
      if (single) single.add(ids, vectors, 1);
      else await shards!.add(ids, vectors);
      progress(`gallery ${size}: graph ${layout} added`, start + count, started);
    }
    const addSeconds = (performance.now() - started) / 1000;
    const addCpuPerWall = cpuPerWall(cpuBefore, addSeconds);
    const search = await measureSearch(queries, async (q) => Number(single ? (single.search(q, 1, 1).keys[0] ?? -1n) : ((await shards!.search(q, 1)).keys[0] ?? -1n)));
    return {
      addTemplatesPerSecond: round(size / addSeconds),
      addCpuPerWall,
      addCpuSecondsPerTemplateMs: round((addCpuPerWall * addSeconds * 1000) / size),
      searchMs: { p50: search.p50, p99: search.p99 },
      recallAt1: search.recallAt1,
      processRssMBPer1e6: perMillionMB(process.memoryUsage().rss - rssBefore, size),
    };
  } finally {
    await shards?.terminate();
  }
}

/**
 * usearch alone (native HNSW with the store's graph settings, SIMD, both cores for adding) at one quantization: the engine of the
 * embedded store's search index (f32, the store's settings), and how much
 * f16/i8 would save and lose before and after an exact re-ranking of RERANK candidates.
 */
async function usearchIndex(matrix: Float32Array, size: number, queries: Query[], quantization: 'f32' | 'f16' | 'i8'): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'facetrain-bench-usearch-'));
  const rssBefore = process.memoryUsage().rss;
  const scalar = { f32: usearch.ScalarKind.F32, f16: usearch.ScalarKind.F16, i8: usearch.ScalarKind.I8 }[quantization];
  const index = new usearch.Index({ dimensions: DIMS, metric: usearch.MetricKind.IP, quantization: scalar, connectivity: HNSW_SETTINGS.connectivity, expansion_add: HNSW_SETTINGS.expansionAdd, expansion_search: HNSW_SETTINGS.expansionSearch, multi: false });
  const started = performance.now();
  for (let start = 0; start < size; start += ENROL_BATCH) {
    const count = Math.min(ENROL_BATCH, size - start);
    index.add(BigUint64Array.from({ length: count }, (_, i) => BigInt(start + i)), matrix.subarray(start * DIMS, (start + count) * DIMS), 2);
    progress(`gallery ${size}: usearch ${quantization} added`, start + count, started);
  }
  const addSeconds = (performance.now() - started) / 1000;
  const search = await measureSearch(queries, (q) => Number(index.search(q, 1, 1).keys[0] ?? -1n));
  let rerankedHits = 0;
  for (const q of queries) {
    const candidates = Array.from(index.search(q.vector, RERANK, 1).keys, Number);
    const best = candidates.reduce((a, b) => (dot(matrix, b, q.vector) > dot(matrix, a, q.vector) ? b : a));
    if (best === q.exact) rerankedHits++;
  }
  const rss = process.memoryUsage().rss - rssBefore;
  const file = path.join(dir, 'index.usearch');
  index.save(file);
  const disk = (await stat(file)).size;
  await rm(dir, { recursive: true, force: true });
  return {
    searchMs: { p50: search.p50, p99: search.p99 },
    recallAt1: search.recallAt1,
    [`recallAt1AfterRerankOf${RERANK}`]: rerankedHits / queries.length,
    addTemplatesPerSecond: round(size / addSeconds),
    diskMBPer1e6: perMillionMB(disk, size),
    processRssMBPer1e6: perMillionMB(rss, size),
  };
}

/** Random 512-d unit vectors (the worst case for a graph) and QUERIES noisy copies of them; `exactMs` as in queriesFor. */
function uniformData(size: number, random: Random, exactMs: number[]): { matrix: Float32Array; queries: Query[] } {
  const matrix = new Float32Array(size * DIMS);
  // in place, two normal values per Box-Muller draw: 10^6 vectors in seconds rather than minutes
  for (let i = 0; i < size; i++) {
    const row = matrix.subarray(i * DIMS, (i + 1) * DIMS);
    let norm = 0;
    for (let d = 0; d < DIMS; d += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - random()));
      const a = 2 * Math.PI * random();
      row[d] = r * Math.cos(a);
      row[d + 1] = r * Math.sin(a);
      norm += row[d]! * row[d]! + row[d + 1]! * row[d + 1]!;
    }
    const scale = 1 / Math.sqrt(norm);
    for (let d = 0; d < DIMS; d++) row[d] = row[d]! * scale;
  }
  // above 10^5 the JS scan is not timed: usearch's exact SIMD scan gives the same answers faster
  return { matrix, queries: queriesFor(matrix, size, random, size <= 100_000 ? exactMs : undefined) };
}

/**
 * Face-shaped templates (bench/gallery-recall.ts: people of FACE_TEMPLATES templates around a
 * centre, two of one person at cosine about 0.5) and QUERIES new photos of stored people, each
 * with its exact nearest template (usearch's exact scan).
 */
function faceData(size: number): { matrix: Float32Array; queries: Query[] } {
  const { matrix, queries } = recallData('faces', size, DIMS, size, Number(process.env.BENCH_GALLERY_FACE_COSINE ?? 0.5));
  return { matrix, queries: queries.slice(0, QUERIES).map((vector) => ({ vector, exact: Number(usearch.exactSearch(matrix, vector, DIMS, 1, usearch.MetricKind.IP, 2).keys[0]) })) };
}

/**
 * Synthetic 512-d unit vectors (seeded by the size): the embedded store (PGlite records + usearch
 * search index, through `openGallery`), usearch alone at f32/f16/i8, pgvector's HNSW in PGlite
 * built after a bulk load, and the PostgreSQL-wire store (pglite-server): search p50/p99,
 * recall@1 against an exact scan of the same vectors, enrol throughput, disk and memory per 10^6
 * templates. BENCH_GALLERY_SIZES=100000,1000000 (default 10000; how long each takes is in the
 * README); BENCH_GALLERY_ENGINES=embedded,graph-one-thread,graph-sharded,usearch,usearch-f16,usearch-i8,pglite-after-load,postgres-wire,postgres-wire-bulk
 * picks engines (graph-*: the store's graph alone, one thread vs its shards on their threads) (default embedded,usearch,usearch-f16,usearch-i8); BENCH_GALLERY_REBUILD=0 skips
 * the embedded index rebuild, BENCH_GALLERY_FORGET=0 the embedded forget (a table rewrite).
 * BENCH_GALLERY_DATA=faces enrols face-shaped templates instead (faceData; BENCH_GALLERY_FACE_COSINE
 * the cosine of two templates of one person, default 0.5; checkpoints still query noisy copies of templates); BENCH_GALLERY_EF=128,256,... searches the embedded store's saved
 * graph again at those expansion_search values (searchSavedGraph).
 */
export async function benchGallery(): Promise<Record<string, unknown>> {
  const sizes = (process.env.BENCH_GALLERY_SIZES ?? '10000').split(',').map(Number);
  const engines = new Set((process.env.BENCH_GALLERY_ENGINES ?? 'embedded,usearch,usearch-f16,usearch-i8').split(','));
  const faceShaped = process.env.BENCH_GALLERY_DATA === 'faces';
  const out: Record<string, unknown> = { dims: DIMS, data: faceShaped ? 'faces' : 'uniform', queries: QUERIES, note: 'shared 2-core machine: timings are noisy', loadAverageAtStart: loadavg().map(round) };
  for (const size of sizes) {
    const random = createRandom(size);
    const exactMs: number[] = [];
    const { matrix, queries } = faceShaped ? faceData(size) : uniformData(size, random, exactMs);
    exactMs.sort((a, b) => a - b);
    const figures: Record<string, unknown> = {
      exactScanSearchMs: exactMs.length > 0 ? { p50: round(percentile(exactMs, 0.5)), p99: round(percentile(exactMs, 0.99)) } : 'not timed above 10^5 or on face-shaped data (answers from usearch.exactSearch)',
      // what gallery.json-style base64 storage of the same vectors would take
      jsonFileMBPer1e6: round(encodeVector(matrix.subarray(0, DIMS)).length + 120),
    };
    const started = performance.now();
    const section = async (name: string, run: () => Promise<Record<string, unknown>>) => {
      const t = performance.now();
      figures[name] = { ...(await run()), seconds: round((performance.now() - t) / 1000), loadAverage: loadavg().map(round) };
      // each engine's figures as soon as they are measured: a long run stopped later keeps them
      process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}gallery ${size} ${name}: ${JSON.stringify(figures[name])}\n`);
    };
    for (const layout of ['one-thread', 'sharded'] as const) if (engines.has(`graph-${layout}`)) await section(`graph-${layout}`, () => graphBuild(matrix, size, queries, layout));
    if (engines.has('embedded')) await section('embedded', () => galleryStore((dir) => `pglite:${dir}`, matrix, size, queries, 'embedded'));
    for (const q of ['f32', 'f16', 'i8'] as const) if (engines.has(q === 'f32' ? 'usearch' : `usearch-${q}`)) await section(`usearch${q === 'f32' ? '' : `-${q}`}`, () => usearchIndex(matrix, size, queries, q));
    if (engines.has('pglite-after-load')) await section('pgliteIndexAfterLoad', () => pgliteIndexAfterLoad(matrix, size, queries));
    const wire: [string, string, (url: string) => Promise<Record<string, unknown>>][] = [
      ['postgres-wire', 'postgresWire', (url) => galleryStore(() => url, matrix, size, queries, 'postgres-wire')],
      ['postgres-wire-bulk', 'postgresWireBulk', (url) => postgresWireBulk(url, matrix, size, queries)],
    ];
    for (const [engine, name, run] of wire) {
      if (!engines.has(engine)) continue;
      // a database of its own for each
      const db = await startPgliteServer();
      try {
        await section(name, () => run(db.url));
      } finally {
        await db.stop();
      }
    }
    figures.benchSeconds = round((performance.now() - started) / 1000);
    out[String(size)] = figures;
  }
  return out;
}
