import path from 'node:path';
import { resolveTrainConfig, type TrainConfig } from '../config.js';
import { checkPeople, preparePhotos, type Cropper, type PreparedPhoto } from '../dataset/prepare.js';
import { loadDatasetSplit } from '../dataset/scan.js';
import { initEngine } from '../engine/backend.js';
import { fileSystemIO } from '../engine/model-io.js';
import type { EventSink, SkippedPhoto } from '../events.js';
import { resizeSquare } from '../image/decode.js';
import { calibrateThreshold, evaluate } from '../evaluate/metrics.js';
import { renderReport } from '../evaluate/report.js';
import { attachThumbnails, correctKnownScores, predictSamples } from '../evaluate/run.js';
import type { EvalReport, EvalSample } from '../evaluate/types.js';
import { createRecognizer } from '../recognize/recognizer.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { EVAL_FILE, REPORT_FILE, HISTORY_FILE, LABELS_FILE, MANIFEST_FILE, labelsText, packageVersions, type ModelManifest } from '../model/manifest.js';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import { trainClassic } from './classic.js';

export interface TrainResult {
  outDir: string;
  manifest: ModelManifest;
  skipped: SkippedPhoto[];
}

const INPUT_SIZE = 224;

function wholeImageCropper(size: number): Cropper {
  return (image) => resizeSquare(image, size);
}

interface Validation {
  threshold: number;
  report?: EvalReport;
  samples: EvalSample[];
}

/**
 * Names every validation photo with the trained model, sets the unknown threshold so that 95 % of
 * the correctly named ones are still accepted, and evaluates at that threshold.
 */
async function validate(manifest: ModelManifest, model: tfl.LayersModel, val: PreparedPhoto[]): Promise<Validation> {
  if (val.length === 0) return { threshold: 0, samples: [] };
  const samples = await predictSamples(createRecognizer(manifest, model), val);
  const correct = correctKnownScores(samples);
  const threshold = correct.length > 0 ? calibrateThreshold(correct).threshold : 0;
  await attachThumbnails(samples, threshold);
  return { threshold, samples, report: evaluate(samples, manifest.labels, threshold) };
}

export interface TrainHooks {
  /** A MobileNetV2 already in memory (benchmarks use random weights), instead of loading `weights`. */
  base?: tfl.LayersModel;
}

/** Trains a recognizer from a folder of people's photos and writes the model directory atomically. */
export async function train(input: Partial<TrainConfig> & Pick<TrainConfig, 'dataDir' | 'outDir'>, emit: EventSink = () => {}, hooks: TrainHooks = {}): Promise<TrainResult> {
  const config = resolveTrainConfig(input);
  const started = performance.now();
  await initEngine();
  const split = await loadDatasetSplit(config.dataDir, { valSplit: config.valSplit, seed: config.seed });
  const skipped: SkippedPhoto[] = [];
  const onSkip = (s: SkippedPhoto) => {
    skipped.push(s);
    emit({ type: 'skip', ...s });
  };
  const crop = wholeImageCropper(INPUT_SIZE);
  const total = split.train.length + split.val.length;
  const onProgress = (offset: number) => (done: number) => emit({ type: 'progress', stage: 'prepare', done: offset + done, total });
  const train = await preparePhotos(split.train, crop, onSkip, onProgress(0));
  const val = await preparePhotos(split.val, crop, onSkip, onProgress(split.train.length));
  checkPeople(split.trainRoot, split.people, train);
  const count = (list: { person: string }[], person: string) => list.filter((p) => p.person === person).length;
  emit({
    type: 'dataset',
    people: split.people.map((name) => ({ name, train: count(train, name), val: count(val, name) })),
    skipped,
    explicitSplit: split.explicitSplit,
  });

  const { model, history } = await trainClassic(train, val, split.people, config, emit, hooks.base);
  const { dataDir: _data, outDir: _out, force: _force, ...recipe } = config;
  const manifest: ModelManifest = {
    format: 'facetrain-model',
    formatVersion: 1,
    base: { name: 'mobilenetv2', alpha: config.alpha, fineTuneAt: config.fineTuneAt, layerLayout: 'keras-2.0-with-Conv1_pad-155' },
    input: { size: INPUT_SIZE, channels: 'RGB', mean: 127.5, std: 127.5, crop: 'whole-image' },
    labels: split.people,
    threshold: 0,
    seed: config.seed,
    config: recipe,
    versions: packageVersions(),
    metrics: {},
    createdAt: new Date().toISOString(),
  };
  const validation = await validate(manifest, model, val);
  manifest.threshold = validation.threshold;
  manifest.metrics = { valAccuracy: validation.report?.top1Accuracy ?? undefined, trainSeconds: (performance.now() - started) / 1000 };
  if (validation.report) emit({ type: 'evaluation', report: validation.report });
  await writeDirAtomic(
    config.outDir,
    async (dir) => {
      await model.save(fileSystemIO(dir));
      await writeFileAtomic(path.join(dir, LABELS_FILE), labelsText(split.people));
      await writeFileAtomic(path.join(dir, HISTORY_FILE), JSON.stringify(history, null, 2));
      await writeFileAtomic(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
      if (validation.report) {
        const samples = validation.samples.map(({ thumbnail: _, ...rest }) => rest);
        await writeFileAtomic(path.join(dir, EVAL_FILE), JSON.stringify({ report: validation.report, samples }, null, 2));
        const modelInfo = { labels: manifest.labels, base: `mobilenetv2 alpha ${config.alpha}`, threshold: manifest.threshold, createdAt: manifest.createdAt, name: path.basename(config.outDir) };
        await writeFileAtomic(path.join(dir, REPORT_FILE), renderReport({ report: validation.report, history, model: modelInfo, samples: validation.samples }));
      }
    },
    { force: config.force },
  );
  emit({ type: 'saved', outDir: config.outDir, valAccuracy: manifest.metrics.valAccuracy, ms: performance.now() - started });
  return { outDir: config.outDir, manifest, skipped };
}
