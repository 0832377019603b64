import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildMobileNetV2 } from '../src/base/mobilenetv2/mobilenetv2.js';
import { train } from '../src/api/train.js';
import type { TrainEvent } from '../src/events.js';
import { FIVE_CELEBRITIES, MOBILENET_035_DIR } from '../test/support/shared.js';
import { median } from '../src/evaluate/metrics.js';
import { round } from './timing.js';

export interface RecipeRun {
  wallSeconds: number;
  featureSeconds: number;
  headSeconds: number;
  fineTuneSeconds: number;
  valAccuracy: number | undefined;
}

async function timeRecipe(alpha: 0.35 | 1.0): Promise<RecipeRun> {
  const out = await mkdtemp(path.join(tmpdir(), 'facetrain-bench-'));
  let featuresDone = 0;
  const phaseMs: Record<string, number> = {};
  const started = performance.now();
  const emit = (e: TrainEvent) => {
    if (e.type === 'progress' && e.stage === 'features' && e.done === e.total) featuresDone = performance.now();
    if (e.type === 'epoch') phaseMs[e.phase] = (phaseMs[e.phase] ?? 0) + e.ms;
  };
  const base = alpha === 1.0 ? buildMobileNetV2({ alpha }) : undefined;
  // the classic recipe as the tutorial has it: whole photos, no face detection
  const result = await train({ dataDir: FIVE_CELEBRITIES, outDir: path.join(out, 'model'), base: 'mobilenetv2', detect: false, alpha, weights: MOBILENET_035_DIR }, emit, { base });
  const wall = performance.now() - started;
  await rm(out, { recursive: true, force: true });
  return {
    wallSeconds: wall / 1000,
    featureSeconds: (featuresDone - started) / 1000,
    headSeconds: (phaseMs.head ?? 0) / 1000,
    fineTuneSeconds: (phaseMs['fine-tune'] ?? 0) / 1000,
    valAccuracy: result.manifest.metrics.valAccuracy,
  };
}

function medianOf(runs: RecipeRun[], key: keyof RecipeRun): number {
  return round(median(runs.map((r) => r[key] ?? 0)));
}

/** The full default recipe (10 + 5 epochs, augmentation, caching) on five-celebrities, medians of `runs`. */
export async function benchRecipe(runs = 5): Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = { dataset: 'five-celebrities (93 train, 25 val)', runs, alpha100Weights: 'random (timing only)' };
  for (const alpha of [0.35, 1.0] as const) {
    await timeRecipe(alpha); // warm-up: wasm compilation, file cache
    const timed: RecipeRun[] = [];
    for (let i = 0; i < runs; i++) timed.push(await timeRecipe(alpha));
    const name = alpha === 1.0 ? 'alpha100' : 'alpha035';
    for (const key of ['wallSeconds', 'featureSeconds', 'headSeconds', 'fineTuneSeconds'] as const) results[`recipe_${name}_${key}`] = medianOf(timed, key);
    if (alpha === 0.35) results.recipe_alpha035_valAccuracy = medianOf(timed, 'valAccuracy');
  }
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await benchRecipe(Number(process.env.BENCH_RUNS ?? 5)), null, 2));
}
