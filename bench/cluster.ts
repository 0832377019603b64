import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { averageLinkageClusters } from '../src/cluster/average-linkage.js';
import { clusterPhotos } from '../src/api/cluster.js';
import { CACHE_DIR, CACHE_FILE, readFaceCache } from '../src/cluster/face-cache.js';
import { FACERES_SAME_PERSON_SIMILARITY } from '../src/base/faceres/index.js';
import { createRandom } from '../src/util/random.js';
import { buildPhotoMix, scoreClustering } from '../test/support/cluster-mix.js';
import { tempDir } from '../test/support/shared.js';
import { round, timeMs } from './timing.js';

/** Random unit vectors of FaceRes's length: the grouping's cost depends on n, not on what the faces are. */
function randomUnitVectors(n: number, dims: number, seed: number): Float32Array[] {
  const random = createRandom(seed);
  return Array.from({ length: n }, () => {
    const v = Float32Array.from({ length: dims }, () => random() - 0.5);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

/**
 * The shared mix (bbt + five-celebrities + ORL s1-s10 + LFW people with >= 4 photos + bbt scenes)
 * clustered once from scratch (embedding dominates; one run, it takes minutes), then re-run from its
 * cache and grouped alone, as medians of `runs`; BCubed against the withheld labels.
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
  const { embedderKey } = JSON.parse(await readFile(path.join(out, CACHE_DIR, CACHE_FILE), 'utf8')) as { embedderKey: string };
  const embeddings = [...(await readFaceCache(out, embedderKey)).values()].flatMap((faces) => faces.map((f) => f.embedding));
  const groupingMs = (n: number) => timeMs(runs, () => averageLinkageClusters(randomUnitVectors(n, embeddings[0]!.length, n), FACERES_SAME_PERSON_SIMILARITY));
  const faces = result.faces.length;
  return {
    photos: mix.truth.size + mix.scenes.length,
    faces,
    people: mix.people,
    groups: result.groups.length,
    bcubedPrecision: Math.round(score.precision * 1000) / 1000,
    bcubedRecall: Math.round(score.recall * 1000) / 1000,
    peopleWholeInOneGroup: `${score.whole}/${score.peopleWith3Photos}`,
    sameThreshold: result.sameThreshold,
    firstRunMsPer1000Faces: round((firstRunMs / faces) * 1000),
    cachedRerunMsPer1000Faces: round((cachedRerunMs / faces) * 1000),
    groupingMsMixFaces: round(await timeMs(runs, () => averageLinkageClusters(embeddings, FACERES_SAME_PERSON_SIMILARITY))),
    groupingMs1000Faces: round(await groupingMs(1000)),
    groupingMs4000Faces: round(await groupingMs(4000)),
    runs,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  console.log(JSON.stringify(await benchCluster(Number(process.env.BENCH_RUNS ?? 3)), null, 2));
}
