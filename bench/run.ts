import { writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { benchCluster } from './cluster.js';
import { benchEngine } from './engine.js';
import { benchEngines } from './engines.js';
import { benchExport } from './export.js';
import { benchFaces } from './faces.js';
import { benchGallery } from './gallery.js';
import { benchGalleryHead } from './gallery-head.js';
import { benchGalleryRecall } from './gallery-recall.js';
import { benchGalleryServers } from './gallery-servers.js';
import { benchPhotos } from './photos.js';
import { benchFaceServer, benchServer } from './server.js';
import { benchRecipe } from './recipe.js';
import { benchTraining } from './training.js';

/**
 * `npm run bench`: every figure is a median of repeated runs after warm-up; ratios compare with
 * the stock path measured in the same process. Writes bench-results.json and prints a table.
 * BENCH_RUNS sets the repetitions (default 5); BENCH_ONLY=engine,faces,photos,engines,recipe,training,server,cluster,export,gallery,gallery-servers,gallery-head,gallery-recall picks sections.
 * `gallery` and `gallery-servers` are not in the default list: building PGlite's HNSW index takes
 * minutes (BENCH_ONLY=gallery,gallery-servers runs them).
 */
const runs = Number(process.env.BENCH_RUNS ?? 5);
const only = new Set((process.env.BENCH_ONLY ?? 'engine,faces,photos,engines,recipe,training,server,cluster,export').split(','));
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: { cores: availableParallelism(), cpu: cpus()[0]?.model, node: process.versions.node },
};
const sections: Record<string, () => Promise<Record<string, unknown>>> = {
  engine: () => benchEngine({ runs }),
  faces: () => benchFaces(),
  photos: () => benchPhotos(runs),
  engines: () => benchEngines(runs),
  recipe: () => benchRecipe(runs),
  training: () => benchTraining(runs),
  server: async () => ({ wholeImage: await benchServer(), faces: await benchFaceServer() }),
  cluster: () => benchCluster(runs),
  export: () => benchExport(),
  gallery: () => benchGallery(),
  'gallery-servers': () => benchGalleryServers(),
  'gallery-head': () => benchGalleryHead(),
  'gallery-recall': () => benchGalleryRecall(),
};
for (const [name, run] of Object.entries(sections)) {
  if (!only.has(name)) continue;
  results[name] = await run();
  // written after every section, so a long run that fails late keeps what it measured
  await writeFile('bench-results.json', `${JSON.stringify(results, null, 2)}\n`);
}
for (const [section, values] of Object.entries(results)) {
  if (typeof values !== 'object' || values === null) continue;
  console.error(`\n${section}`);
  for (const [k, v] of Object.entries(values)) console.error(`  ${k.padEnd(48)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
}
console.log(JSON.stringify(results, null, 2));
process.exit(0);
