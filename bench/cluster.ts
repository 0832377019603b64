import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterPhotos } from '../src/api/cluster.js';
import { CACHE_DIR, CACHE_FILE, readFaceCache } from '../src/cluster/face-cache.js';
import { groupFaces, type FaceToGroup, type GroupingRule } from '../src/cluster/group-faces.js';
import { MOBILEFACENET_BASE } from '../src/base/mobilefacenet/index.js';
import { createRandom, type Random } from '../src/util/random.js';
import { buildPhotoMix, scoreClustering } from '../test/support/cluster-mix.js';
import { tempDir } from '../test/support/shared.js';
import { round, timeMs } from './timing.js';

const RULE: GroupingRule = { linkSimilarity: MOBILEFACENET_BASE.strictVerifyThreshold, joinSimilarity: MOBILEFACENET_BASE.verifyThreshold, minPhotos: 3, seed: 42 };
const DIMS = 192;

function gaussian(random: Random): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function unit(values: ArrayLike<number>): Float32Array {
  const v = Float32Array.from(values);
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

/** Random unit vectors: no two alike, so almost no links; the cost of the neighbour search alone. */
function randomFaces(n: number, seed: number): FaceToGroup[] {
  const random = createRandom(seed);
  return Array.from({ length: n }, (_, i) => ({ embedding: unit(Array.from({ length: DIMS }, () => gaussian(random))), photo: String(i) }));
}

/** The mix's real embeddings, each repeated with noise until there are n: groups of a realistic shape at any size. */
function resampledFaces(real: Float32Array[], n: number, seed: number): FaceToGroup[] {
  const random = createRandom(seed);
  return Array.from({ length: n }, (_, i) => {
    const source = real[i % real.length]!;
    return { embedding: unit(Array.from(source, (x) => x + 0.02 * gaussian(random))), photo: String(i) };
  });
}

/** Grouping memory in a fresh process: its peak resident size with the grouping minus without (same faces made). */
function peakMegabytes(kind: 'random' | 'resampled', n: number, mixCache: string, group: boolean): number {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), 'memory', kind, String(n), mixCache, group ? 'group' : 'faces-only'], { encoding: 'utf8' });
  return Number(out.trim());
}

async function mixEmbeddings(cacheDir: string): Promise<Float32Array[]> {
  const { embedderKey } = JSON.parse(await readFile(path.join(cacheDir, CACHE_DIR, CACHE_FILE), 'utf8')) as { embedderKey: string };
  return [...(await readFaceCache(cacheDir, embedderKey)).values()].flatMap((faces) => faces.map((f) => f.embedding));
}

/**
 * The shared mix (bbt + five-celebrities + ORL s1-s10 + LFW people with >= 4 photos + bbt scenes)
 * clustered once from scratch (embedding dominates; one run, it takes minutes), then re-run from its
 * cache, as medians of `runs`; BCubed against the withheld labels. Then the grouping alone at 10^3
 * to 10^4 faces, of random vectors and of the mix's faces resampled with noise: time and peak
 * memory (in a child process each).
 */
export async function benchCluster(runs: number): Promise<Record<string, unknown>> {
  const root = await tempDir('bench-cluster');
  const mix = await buildPhotoMix(path.join(root, 'dump'));
  const out = path.join(root, 'people');
  const started = performance.now();
  const result = await clusterPhotos({ photosDir: mix.dir, outDir: out });
  const firstRunMs = performance.now() - started;
  const score = scoreClustering(mix, result);
  const cachedRerunMs = await timeMs(runs, () => clusterPhotos({ photosDir: mix.dir, outDir: out, force: true }));
  const real = await mixEmbeddings(out);
  const faces = result.faces.length;
  const scaling: Record<string, unknown> = {};
  for (const n of [1000, 4000, 10000]) {
    for (const [kind, make] of [['random', () => randomFaces(n, n)], ['resampled', () => resampledFaces(real, n, n)]] as const) {
      const input = make();
      const ms = await timeMs(n >= 10000 ? 1 : runs, () => groupFaces(input, RULE));
      scaling[`${kind}${n}`] = {
        ms: round(ms),
        msPer1000Faces: round((ms / n) * 1000),
        ...(n === 10000 ? { peakMB: round(peakMegabytes(kind, n, out, true) - peakMegabytes(kind, n, out, false)) } : {}),
      };
    }
  }
  return {
    photos: mix.truth.size + mix.scenes.length,
    faces,
    people: mix.people,
    groups: result.groups.length,
    bcubedPrecision: Math.round(score.precision * 1000) / 1000,
    bcubedRecall: Math.round(score.recall * 1000) / 1000,
    peopleWholeInOneGroup: `${score.whole}/${score.peopleWith3Photos}`,
    rule: result.rule,
    firstRunMsPer1000Faces: round((firstRunMs / faces) * 1000),
    cachedRerunMsPer1000Faces: round((cachedRerunMs / faces) * 1000),
    groupingMsMixFaces: round(await timeMs(runs, () => groupFaces(real.map((embedding, i) => ({ embedding, photo: String(i) })), RULE))),
    grouping: scaling,
    runs,
  };
}

const [, script, mode, kind, size, mixCache, stage] = process.argv;
if (script && fileURLToPath(import.meta.url) === path.resolve(script)) {
  if (mode === 'memory') {
    const n = Number(size);
    const input = kind === 'random' ? randomFaces(n, n) : resampledFaces(await mixEmbeddings(mixCache!), n, n);
    if (stage === 'group') groupFaces(input, RULE);
    // maxRSS is in kilobytes
    console.log(process.resourceUsage().maxRSS / 1024);
  } else {
    console.log(JSON.stringify(await benchCluster(Number(process.env.BENCH_RUNS ?? 3)), null, 2));
  }
}
