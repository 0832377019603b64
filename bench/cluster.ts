import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterPhotos } from '../src/api/cluster.js';
import { loadClusterEmbedder } from '../src/api/cluster-embedder.js';
import { chooseRuntime } from '../src/runtime/choose.js';
import { CACHE_DIR, CACHE_FILE, readFaceCache } from '../src/cluster/face-cache.js';
import { groupFaces, NEIGHBOURS, type FaceToGroup, type GroupingRule } from '../src/cluster/group-faces.js';
import { approximateNeighbours, EXACT_BELOW, HNSW, type NeighbourGraph, type NeighbourSearch } from '../src/cluster/nearest-neighbours.js';
import { MOBILEFACENET_BASE } from '../src/base/mobilefacenet/index.js';
import { createRandom, type Random } from '../src/util/random.js';
import { bcubed } from '../src/cluster/bcubed.js';
import { thresholdForFaces } from '../src/cluster/dump-size.js';
import type { ClusterResult } from '../src/api/cluster.js';
import { hashBytes } from '../src/model-dir/gallery.js';
import { buildPhotoMix, faceLabels, scoreClustering, SHARED_MIX, type MixPeople, type PhotoMix } from '../test/support/cluster-mix.js';
import { tempDir } from '../test/support/shared.js';
import { round, timeMs } from './timing.js';

const RULE: GroupingRule = { linkSimilarity: MOBILEFACENET_BASE.strictVerifyThreshold, joinSimilarity: MOBILEFACENET_BASE.verifyThreshold, minPhotos: 3, seed: 42 };
const DIMS = 192;
/** Rows whose true neighbours are found by a full scan to measure the index's recall (and the exact search's cost per row). */
const RECALL_SAMPLE = 200;

function gaussian(random: Random): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function unit(values: ArrayLike<number>): Float32Array {
  const v = Float32Array.from(values);
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

/** Random unit vectors: no two alike, so almost no links; the hardest case for an HNSW index (no structure to follow). */
function randomFaces(n: number, seed: number): FaceToGroup[] {
  const random = createRandom(seed);
  return Array.from({ length: n }, (_, i) => ({ embedding: unit(Array.from({ length: DIMS }, () => gaussian(random))), photo: String(i) }));
}

/** People of 20 faces: a random direction plus as much noise, so two faces of one person are at cosine ~0.5 (MobileFaceNet's same-person pairs on LFW: mostly 0.4-0.8). */
function peopleFaces(n: number, seed: number): FaceToGroup[] {
  const random = createRandom(seed);
  const centres = Array.from({ length: Math.ceil(n / 20) }, () => Array.from({ length: DIMS }, () => gaussian(random)));
  return Array.from({ length: n }, (_, i) => ({ embedding: unit(centres[Math.floor(i / 20)]!.map((c) => c + gaussian(random))), photo: String(i) }));
}

/** The mix's real embeddings, each repeated with noise until there are n: near-copies of real faces (the easiest case for the index). */
function resampledFaces(real: Float32Array[], n: number, seed: number): FaceToGroup[] {
  const random = createRandom(seed);
  return Array.from({ length: n }, (_, i) => {
    const source = real[i % real.length]!;
    return { embedding: unit(Array.from(source, (x) => x + 0.02 * gaussian(random))), photo: String(i) };
  });
}

async function mixEmbeddings(cacheDir: string): Promise<Float32Array[]> {
  const { embedderKey } = JSON.parse(await readFile(path.join(cacheDir, CACHE_DIR, CACHE_FILE), 'utf8')) as { embedderKey: string };
  return [...(await readFaceCache(cacheDir, embedderKey)).values()].flatMap((faces) => faces.map((f) => f.embedding));
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let d = 0; d < a.length; d++) s += a[d]! * b[d]!;
  return s;
}

/** The embedding of each of the result's faces (in its order), from the cache the run wrote. */
async function resultEmbeddings(mix: PhotoMix, out: string, result: ClusterResult): Promise<Float32Array[]> {
  const { embedderKey } = JSON.parse(await readFile(path.join(out, CACHE_DIR, CACHE_FILE), 'utf8')) as { embedderKey: string };
  const cache = await readFaceCache(out, embedderKey);
  const hashes = new Map<string, string>();
  for (const photo of new Set(result.faces.map((f) => f.photo))) hashes.set(photo, hashBytes(await readFile(path.join(mix.dir, photo))));
  return result.faces.map((f) => cache.get(hashes.get(f.photo)!)![f.face]!.embedding);
}

/**
 * Reflections making one turned copy of the mix. With 24, a copy's faces meet another copy's with
 * the mean and spread of real strangers (bench, shared mix: 0.001-0.004 and 0.14 against 0.005 and
 * 0.144) but a lighter tail (0.05-0.06 % at 0.454 against 0.13 %), and a face meets its own copy
 * like a relative (mean 0.27); 96 reflections make the copies of a face strangers (0.03) but the
 * tail lighter still (0.02 %, one-off script). The bench prints all three.
 */
const COPY_REFLECTIONS = 24;

/**
 * `copies` copies of the real faces, each turned by its own random orthogonal map inside the span
 * of the real faces (a product of reflections about random mixes of them), the first copy being
 * the faces themselves: inside a copy every similarity is a real one (the mix's people again, with
 * their odd photos and look-alikes), across copies the faces are face-shaped strangers.
 */
function turnedCopies(real: Float32Array[], copies: number, seed: number): Float32Array[][] {
  const random = createRandom(seed);
  const dims = real[0]!.length;
  return Array.from({ length: copies }, (_, copy) => {
    const mirrors = Array.from({ length: copy === 0 ? 0 : COPY_REFLECTIONS }, () => {
      const v = new Float32Array(dims);
      for (const face of real) {
        const weight = gaussian(random);
        for (let d = 0; d < dims; d++) v[d]! += weight * face[d]!;
      }
      return unit(v);
    });
    return real.map((face) => {
      const turned = Float32Array.from(face);
      for (const v of mirrors) {
        const along = 2 * dot(v, turned);
        for (let d = 0; d < dims; d++) turned[d]! -= along * v[d]!;
      }
      return turned;
    });
  });
}

/** Mean, standard deviation and share at or above `at` of `values`. */
function tailOf(values: number[], at: number): { mean: number; sd: number; shareAtLink: number } {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
  return { mean: round3(mean), sd: round3(sd), shareAtLink: Math.round((values.filter((v) => v >= at).length / values.length) * 1e5) / 1e5 };
}

/**
 * The bar at about `faces` faces, with labels: the shared mix's real embeddings in
 * turned copies (turnedCopies), each copy's people new people, grouped as clusterPhotos does
 * (thresholds for that many faces, HNSW neighbours from EXACT_BELOW faces), and at the base's
 * fixed thresholds; BCubed, groups and whole people against those labels, the grouping's time, and
 * how strangers across copies compare with the real ones (the construction's check).
 */
function labelledAtScale(real: Float32Array[], photos: string[], labels: (string | undefined)[], faces: number): Record<string, unknown> {
  const copies = Math.max(1, Math.round(faces / real.length));
  const turned = turnedCopies(real, copies, faces);
  const all = turned.flatMap((copy, c) => copy.map((embedding, i) => ({ embedding, photo: `${c}/${photos[i]}`, label: labels[i] === undefined ? undefined : `${c}/${labels[i]}` })));
  const n = all.length;
  const strangers = MOBILEFACENET_BASE.strangerSimilarity;
  const grouped = (rule: GroupingRule) => {
    const started = performance.now();
    const groups = groupFaces(all, rule);
    const groupingMs = performance.now() - started;
    const large = groups.filter((g) => new Set(g.map((m) => all[m]!.photo)).size >= rule.minPhotos);
    const groupOf = new Map<number, number>();
    large.forEach((g, gi) => g.forEach((m) => groupOf.set(m, gi)));
    const labelled = all.flatMap((f, i) => (f.label === undefined ? [] : [{ label: f.label, group: groupOf.has(i) ? `group ${groupOf.get(i)}` : `unsorted ${i}` }]));
    const score = bcubed(labelled.map((f) => f.group), labelled.map((f) => f.label));
    const groupsOf = new Map<string, Set<string>>();
    for (const f of labelled) groupsOf.set(f.label, (groupsOf.get(f.label) ?? new Set()).add(f.group));
    const photosOf = new Map<string, number>();
    for (const f of labelled) photosOf.set(f.label, (photosOf.get(f.label) ?? 0) + 1);
    const withThree = [...photosOf].filter(([, count]) => count >= 3).map(([label]) => label);
    return {
      people: photosOf.size,
      linkSimilarity: round3(rule.linkSimilarity),
      joinSimilarity: round3(rule.joinSimilarity),
      precision: round3(score.precision),
      recall: round3(score.recall),
      groups: large.length,
      peopleWholeInOneGroup: `${withThree.filter((p) => groupsOf.get(p)!.size === 1).length}/${withThree.length}`,
      groupingMs: round(groupingMs),
      groupingMsPer1000Faces: round((groupingMs / n) * 1000),
    };
  };
  const labelledIn = (copy: number) => turned[copy]!.filter((_, i) => labels[i] !== undefined);
  const [first, second] = [labelledIn(0), labelledIn(Math.min(1, copies - 1))];
  const firstLabels = labels.filter((l) => l !== undefined);
  const realStrangers: number[] = [];
  const acrossCopies: number[] = [];
  const sameFaceAcrossCopies: number[] = [];
  for (let i = 0; i < first.length; i++) {
    for (let j = i + 1; j < first.length; j++) if (firstLabels[i] !== firstLabels[j]) realStrangers.push(dot(first[i]!, first[j]!));
    for (let j = 0; j < second.length; j++) (i === j ? sameFaceAcrossCopies : acrossCopies).push(dot(first[i]!, second[j]!));
  }
  return {
    faces: n,
    copies,
    forFaces: grouped({ ...RULE, linkSimilarity: thresholdForFaces(RULE.linkSimilarity, n, strangers), joinSimilarity: thresholdForFaces(RULE.joinSimilarity, n, strangers) }),
    fixed: grouped(RULE),
    strangersInTheMix: tailOf(realStrangers, RULE.linkSimilarity),
    strangersAcrossCopies: tailOf(acrossCopies, RULE.linkSimilarity),
    sameFaceAcrossCopies: tailOf(sameFaceAcrossCopies, RULE.linkSimilarity),
  };
}

/** Share of the true k neighbours of `RECALL_SAMPLE` evenly spaced rows (a full scan each) that the index found. */
function sampledRecall(vectors: Float32Array[], graph: NeighbourGraph): { recall: number; linkableRecall: number } {
  const n = vectors.length;
  const rows = Array.from({ length: Math.min(n, RECALL_SAMPLE) }, (_, i) => Math.floor((i * n) / Math.min(n, RECALL_SAMPLE)));
  let found = 0;
  // the neighbours grouping can use: at or above the join similarity (random vectors have none)
  let linkable = 0;
  let linkableFound = 0;
  for (const i of rows) {
    // the k best of a full scan, kept sorted best first
    const best: { j: number; s: number }[] = [];
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const s = dot(vectors[i]!, vectors[j]!);
      if (best.length === graph.k && s <= best[graph.k - 1]!.s) continue;
      const at = best.findIndex((b) => b.s < s);
      best.splice(at < 0 ? best.length : at, 0, { j, s });
      if (best.length > graph.k) best.pop();
    }
    const approximate = new Set(graph.index.subarray(i * graph.k, (i + 1) * graph.k));
    found += best.filter(({ j }) => approximate.has(j)).length;
    const usable = best.filter(({ s }) => s >= RULE.joinSimilarity);
    linkable += usable.length;
    linkableFound += usable.filter(({ j }) => approximate.has(j)).length;
  }
  return { recall: found / (rows.length * graph.k), linkableRecall: linkable === 0 ? 1 : linkableFound / linkable };
}

/** Largest size the exact search is timed at: above it, it would take hours (it grows as n^2). */
const EXACT_TIMED_UP_TO = 10_000;

/**
 * Grouping alone at n faces: exact neighbours (timed up to EXACT_TIMED_UP_TO, above that
 * extrapolated as n^2 from `exactAt`, the largest timed size) against the HNSW index, whose recall
 * of the true neighbours is measured on sampled rows.
 */
async function groupingAt(faces: FaceToGroup[], runs: number, exactAt?: { n: number; ms: number }): Promise<Record<string, unknown>> {
  const n = faces.length;
  const vectors = faces.map((f) => f.embedding);
  const repeat = n >= 10_000 ? 0 : runs;
  const time = (search: NeighbourSearch) => timeOnce(repeat, () => groupFaces(faces, RULE, search));
  // above 10^4 the index is built once (minutes on this machine): its time is the neighbour search's, the rest of the grouping is O(n k)
  const approximateMs = n <= 10_000 ? await time('approximate') : undefined;
  const neighboursStarted = performance.now();
  const graph = approximateNeighbours(vectors, NEIGHBOURS);
  const approximateNeighboursMs = performance.now() - neighboursStarted;
  const { recall, linkableRecall } = sampledRecall(vectors, graph);
  const exactMs = n <= EXACT_TIMED_UP_TO ? await time('exact') : undefined;
  return {
    ...(approximateMs === undefined ? {} : { approximateMs: round(approximateMs), approximateMsPer1000Faces: round((approximateMs / n) * 1000) }),
    approximateNeighboursMs: round(approximateNeighboursMs),
    ...(exactMs === undefined ? {} : { exactMs: round(exactMs), exactMsPer1000Faces: round((exactMs / n) * 1000) }),
    ...(exactMs === undefined && exactAt ? { exactExtrapolatedMs: round(exactAt.ms * (n / exactAt.n) ** 2) } : {}),
    neighbourRecall: Math.round(recall * 10_000) / 10_000,
    linkableNeighbourRecall: Math.round(linkableRecall * 10_000) / 10_000,
  };
}

/** timeMs, or a single timed call (no warm-up) when `runs` is 0: the largest sizes take minutes each. */
async function timeOnce(runs: number, run: () => unknown): Promise<number> {
  if (runs > 0) return timeMs(runs, run);
  const start = performance.now();
  await run();
  return performance.now() - start;
}

async function mixScore(mix: PhotoMix, out: string, neighbourSearch: NeighbourSearch): Promise<Record<string, unknown>> {
  const result = await clusterPhotos({ photosDir: mix.dir, outDir: out, force: true, neighbourSearch });
  const score = scoreClustering(mix, result);
  return { precision: round3(score.precision), recall: round3(score.recall), groups: result.groups.length, peopleWholeInOneGroup: `${score.whole}/${score.peopleWith3Photos}` };
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

/** Other mixes of the shared sets: more ORL people, Yale's, LFW people with >= 3 photos (the bar: BCubed P/R >= 0.95, groups within 10 %). */
const OTHER_MIXES: Record<string, MixPeople> = {
  shared: SHARED_MIX,
  orl11to40YaleLfw3: { orl: [11, 40], yale: true, lfwMinPhotos: 3 },
  allOrlYaleLfw3: { orl: [1, 40], yale: true, lfwMinPhotos: 3 },
};

/**
 * Each of OTHER_MIXES with seeds 1 and 2 (the order of the photos), grouped at the thresholds for
 * their number of faces (cluster/dump-size.ts) and at the base's fixed ones; one embedding per
 * photo, from the cache of the mix's first run.
 */
export async function otherMixes(root: string): Promise<Record<string, unknown>> {
  const embedder = await loadClusterEmbedder(await chooseRuntime(undefined));
  const { strangerSimilarity: _, ...fixedThresholds } = embedder;
  const figures: Record<string, unknown> = {};
  try {
    for (const [name, people] of Object.entries(OTHER_MIXES)) {
      const out = path.join(root, `mix-${name}`, 'people');
      for (const seed of [1, 2]) {
        const mix = await buildPhotoMix(path.join(root, `mix-${name}`, `dump-${seed}`), seed, people);
        for (const [rule, faceEmbedder] of [['forFaces', embedder], ['fixed', fixedThresholds]] as const) {
          if (process.stderr.isTTY) process.stderr.write(`\r\x1b[Kcluster: mix ${name}, seed ${seed}, ${rule} thresholds`);
          const result = await clusterPhotos({ photosDir: mix.dir, outDir: out, force: true }, () => {}, faceEmbedder);
          const score = scoreClustering(mix, result);
          const groups = result.groups.length;
          figures[`${name}-seed${seed}-${rule}`] = {
            faces: result.rule.faces,
            linkSimilarity: round3(result.rule.linkSimilarity),
            joinSimilarity: round3(result.rule.joinSimilarity),
            precision: round3(score.precision),
            recall: round3(score.recall),
            groups,
            people: mix.people,
            peopleWholeInOneGroup: `${score.whole}/${score.peopleWith3Photos}`,
            bar: score.precision >= 0.95 && score.recall >= 0.95 && Math.abs(groups - mix.people) <= 0.1 * mix.people,
          };
        }
      }
    }
  } finally {
    embedder.dispose();
  }
  return figures;
}

/**
 * The shared mix (bbt + five-celebrities + ORL s1-s10 + LFW people with >= 4 photos + bbt scenes)
 * clustered once from scratch (embedding dominates; one run, it takes minutes), then re-run from its
 * cache, as medians of `runs`; BCubed against the withheld labels with exact and with approximate
 * neighbours. Then the grouping alone at BENCH_CLUSTER_SIZES (default 1000,5000,10000,100000) faces,
 * of people-shaped blobs, of the mix's faces resampled with noise and of random vectors: exact
 * against the HNSW index. Then the bar with labels at BENCH_CLUSTER_LABELLED_SIZES
 * (default 10000) faces: labelledAtScale. Last, OTHER_MIXES.
 */
export async function benchCluster(runs: number): Promise<Record<string, unknown>> {
  const root = await tempDir('bench-cluster');
  const mix = await buildPhotoMix(path.join(root, 'dump'));
  const out = path.join(root, 'people');
  const started = performance.now();
  const result = await clusterPhotos({ photosDir: mix.dir, outDir: out });
  const firstRunMs = performance.now() - started;
  const cachedRerunMs = await timeMs(runs, () => clusterPhotos({ photosDir: mix.dir, outDir: out, force: true }));
  const real = await mixEmbeddings(out);
  const faces = result.faces.length;
  const mixFaces = real.map((embedding, i) => ({ embedding, photo: String(i) }));
  const sizes = (process.env.BENCH_CLUSTER_SIZES ?? '1000,5000,10000,100000').split(',').map(Number);
  const withLabels = await resultEmbeddings(mix, out, result);
  const labelledSizes = (process.env.BENCH_CLUSTER_LABELLED_SIZES ?? '10000').split(',').map(Number);
  const grouping: Record<string, unknown> = {};
  const exactTimed = new Map<string, { n: number; ms: number }>();
  for (const n of sizes) {
    // random vectors (the index's worst case) up to 10^4 only: 10^5 of them take a quarter of an hour here
    const kinds = [['people', () => peopleFaces(n, n)], ['resampled', () => resampledFaces(real, n, n)], ...(n <= 10_000 ? [['random', () => randomFaces(n, n)] as const] : [])] as const;
    for (const [kind, make] of kinds) {
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[Kcluster: grouping ${n} ${kind} faces`);
      const figures = await groupingAt(make(), runs, exactTimed.get(kind));
      if (typeof figures.exactMs === 'number') exactTimed.set(kind, { n, ms: figures.exactMs });
      grouping[`${kind}${n}`] = figures;
    }
  }
  return {
    photos: mix.truth.size + mix.scenes.length,
    faces,
    people: mix.people,
    exact: await mixScore(mix, out, 'exact'),
    approximate: await mixScore(mix, out, 'approximate'),
    rule: result.rule,
    hnsw: HNSW,
    exactBelow: EXACT_BELOW,
    firstRunMsPer1000Faces: round((firstRunMs / faces) * 1000),
    cachedRerunMsPer1000Faces: round((cachedRerunMs / faces) * 1000),
    labelledAtScale: Object.fromEntries(labelledSizes.map((n) => [`faces${n}`, labelledAtScale(withLabels, result.faces.map((f) => f.photo), faceLabels(mix, result.faces), n)])),
    groupingMsMixFaces: { exact: round(await timeMs(runs, () => groupFaces(mixFaces, RULE, 'exact'))), approximate: round(await timeMs(runs, () => groupFaces(mixFaces, RULE, 'approximate'))) },
    grouping,
    otherMixes: await otherMixes(root),
    runs,
  };
}

const [, script] = process.argv;
if (script && fileURLToPath(import.meta.url) === path.resolve(script)) {
  console.log(JSON.stringify(await benchCluster(Number(process.env.BENCH_RUNS ?? 3)), null, 2));
}
