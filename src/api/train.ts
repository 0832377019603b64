import { availableParallelism } from 'node:os';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { BaseName, TrainConfig } from '../config.js';
import type { InputSpec } from '../faces/input-spec.js';
import { checkPeople, preparePhotos } from '../dataset/prepare.js';
import { BASE_ROWS, resolveTrainConfig } from '../base/index.js';
import type { ClassifierBaseRow, EmbeddingBaseRow } from '../base/row.js';
import { loadDatasetSplit, type DatasetSplit } from '../dataset/scan.js';
import { initEngine } from '../tfjs/backend.js';
import { chooseRuntime } from '../runtime/choose.js';
import type { Runtime } from '../runtime/runtime.js';
import { fileSystemIO } from '../tfjs/model-io.js';
import { calibrateThreshold, evaluate } from '../evaluate/metrics.js';
import { renderReport } from '../evaluate/report.js';
import { attachThumbnails, correctKnownScores, photoSample, predictSamples, type LabelledPhoto } from './evaluate-run.js';
import type { EvalReport, EvalSample, TrainHistory } from '../evaluate/types.js';
import type { EventSink, SkippedPhoto } from '../events.js';
import { DEFAULT_ALIGN_CONFIG } from '../faces/align.js';
import { cropperFor, detectorFor, loadFaceAligner } from '../faces/cropper.js';
import { decodeVector, GALLERY_FILE, personGalleries, readGallery, type Gallery, type GalleryEntry } from '../model-dir/gallery.js';
import { EVAL_FILE, HISTORY_FILE, LABELS_FILE, MANIFEST_FILE, REPORT_FILE, labelsText, packageVersions, type ModelManifest } from '../model-dir/manifest.js';
import { classicClassifier, classifyEmbeddings } from '../recognize/classifier.js';
import { unknownThreshold } from '../recognize/embedding-base.js';
import { embeddingInputSpec, facePipelineOn } from '../recognize/face-pipeline.js';
import { createRecognizer, rankScores } from '../recognize/recognizer.js';
import type { PersonGallery } from '../evaluate/unknown-rule.js';
import { datasetWarnings } from '../dataset/warnings.js';
import { assertReplaceable, writeDirAtomic, writeFileAtomic, type SwapStep } from '../util/fs.js';
import { embedPhotos, trainEmbeddingHead, type EmbeddedPhoto, type EmbedOnePhoto } from '../train/embedding.js';
import { LANE_SLOTS, TrainEmbedPool, type EmbeddingLane } from './train-embed-pool.js';
import { Lanes } from '../runtime/lanes.js';
import { setOnnxThreadsPerSession } from '../runtime/onnxruntime.js';
import { trainingPhotoEmbedder } from './train-photos.js';

export interface TrainResult {
  outDir: string;
  manifest: ModelManifest;
  skipped: SkippedPhoto[];
}

export interface TrainHooks {
  /** A MobileNetV2 already in memory (benchmarks use random weights), instead of loading `weights`. */
  base?: tfl.LayersModel;
  /** Called right after each step of the model-directory swap (the crash tests stop the process there). */
  onSwapStep?: (step: SwapStep) => void;
}

const INPUT_SIZE = 224;

/** Candidates kept per validation photo (the report lists them). */
const VALIDATION_TOP_K = 3;

/** What one base's training produced: how it names the validation photos, and what to write beside it. */
interface Trained {
  /** The validation photos that were not skipped, in order, named with the model just trained (largest face, top 3, before any threshold). */
  nameValidation(val: LabelledPhoto[]): Promise<EvalSample[]>;
  /** Frees the networks and the model. */
  dispose(): void;
  model: tfl.LayersModel;
  history: TrainHistory;
  gallery?: Gallery;
  /** The unknown threshold when the base sets it itself (face embeddings: from simulated strangers). */
  threshold?: number;
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
async function validate(trained: Trained, labels: string[], val: LabelledPhoto[], fixedThreshold?: number): Promise<Validation> {
  if (val.length === 0) return { threshold: fixedThreshold ?? 0, samples: [] };
  const samples = await trained.nameValidation(val);
  const correct = correctKnownScores(samples);
  const threshold = fixedThreshold ?? (correct.length > 0 ? calibrateThreshold(correct).threshold : 0);
  await attachThumbnails(samples, threshold);
  return { threshold, samples, report: evaluate(samples, labels, threshold) };
}

/** The input spec a model trained on `base` gets (`detect`: faces found and aligned, else the whole photo). */
export function inputSpecFor(base: BaseName, detect: boolean): InputSpec {
  const row = BASE_ROWS[base];
  return row.kind === 'embedding' && (detect || row.template)
    ? embeddingInputSpec(row)
    : { size: INPUT_SIZE, channels: 'RGB', ...row.normalisation, ...(detect ? { crop: 'aligned-face', align: { ...DEFAULT_ALIGN_CONFIG } } : { crop: 'whole-image' }) };
}

function draftManifest(config: TrainConfig, labels: string[]): ModelManifest {
  // where and how it ran is not part of the recipe (a model trained with --engine onnx enrolls anywhere)
  const { dataDir: _data, outDir: _out, force: _force, engine: _engine, ...recipe } = config;
  return {
    format: 'facetrain-model',
    formatVersion: 1,
    base: BASE_ROWS[config.base].manifestEntry(config),
    input: inputSpecFor(config.base, config.detect),
    labels,
    threshold: 0,
    seed: config.seed,
    config: recipe,
    versions: packageVersions(),
    metrics: {},
    createdAt: new Date().toISOString(),
  };
}

interface Prepared {
  split: DatasetSplit;
  onSkip: (s: SkippedPhoto) => void;
  skipped: SkippedPhoto[];
}

function reportDataset(emit: EventSink, p: Prepared, train: { person: string; faces: number; file: string }[], val: { person: string }[]): void {
  checkPeople(p.split.trainRoot, p.split.people, train);
  for (const photo of train) if (photo.faces > 1) emit({ type: 'faces', file: photo.file, count: photo.faces });
  const count = (list: { person: string }[], person: string) => list.filter((x) => x.person === person).length;
  emit({
    type: 'dataset',
    people: p.split.people.map((name) => ({ name, train: count(train, name), val: count(val, name) })),
    skipped: p.skipped,
    explicitSplit: p.split.explicitSplit,
  });
}

async function trainClassifier(base: ClassifierBaseRow, config: TrainConfig, runtime: Runtime, p: Prepared, emit: EventSink, manifest: ModelManifest, hooks: TrainHooks): Promise<Trained> {
  const detector = await detectorFor(manifest.input, runtime);
  const aligner = await loadFaceAligner(manifest.input, runtime);
  const crop = cropperFor(manifest.input, detector, aligner);
  const total = p.split.train.length + p.split.val.length;
  const onProgress = (offset: number) => (done: number) => emit({ type: 'progress', stage: 'prepare', done: offset + done, total });
  const train = await preparePhotos(p.split.train, crop, p.onSkip, onProgress(0));
  const val = await preparePhotos(p.split.val, crop, p.onSkip, onProgress(p.split.train.length));
  reportDataset(emit, p, train, val);
  const { model, history } = await base.train(train, val, p.split.people, config, emit, runtime, hooks.base);
  const classifier = await classicClassifier(runtime, model, manifest.input);
  const recognizer = createRecognizer(manifest, { classifier, detector, aligner });
  return { nameValidation: (val) => predictSamples(recognizer, val), dispose: () => recognizer.dispose(), model, history };
}

/** Where training's photos are embedded, and how many are in flight. */
interface PhotoEmbedding {
  embed: EmbedOnePhoto;
  inFlight?: number;
  close(): Promise<void>;
}

/**
 * On onnxruntime: this thread's face pipeline (one onnxruntime thread) from the first photo, and
 * worker threads for the other cores as soon as their networks are loaded; each photo goes to the
 * first with room. Every network runs on the calling thread, so this thread alone, even with two
 * onnxruntime threads, leaves a core idle while it decodes, detects and aligns. On TF.js: this thread.
 */
function photoEmbedding(base: EmbeddingBaseRow, config: TrainConfig, runtime: Runtime, input: InputSpec): PhotoEmbedding {
  const workers = runtime.name === 'onnx' ? availableParallelism() - 1 : 0;
  const start = (): PhotoEmbedding => {
    const pipeline = (async () => {
      if (workers === 0) return facePipelineOn(runtime, base, input);
      // the detector's session would spread over every core; beside the workers this thread takes one
      setOnnxThreadsPerSession(1);
      try {
        return await facePipelineOn(runtime, base, input);
      } finally {
        setOnnxThreadsPerSession(availableParallelism());
      }
    })();
    const here: EmbeddingLane = { run: async (job) => trainingPhotoEmbedder(await pipeline)(job), slots: LANE_SLOTS, ready: Promise.resolve() };
    const pool = workers > 0 ? TrainEmbedPool.start(config.base, input, runtime.name, workers) : undefined;
    const lanes = new Lanes(pool ? [here, ...TrainEmbedPool.lanes(pool, workers)] : [here]);
    return {
      embed: (job) => lanes.run(job),
      async close() {
        (await pipeline.catch(() => undefined))?.dispose();
        await (await pool?.catch(() => undefined))?.close();
      },
    };
  };
  // started on the first photo that is not cached: a retrain of unchanged photos loads no network
  let started: PhotoEmbedding | undefined;
  return {
    embed: (job) => (started ??= start()).embed(job),
    inFlight: LANE_SLOTS + TrainEmbedPool.inFlightFor(workers),
    close: async () => started?.close(),
  };
}

/**
 * The validation samples from the validation photos' embeddings (made as `predict` makes them),
 * named by the head and the unknown rule as the recognizer names a face: no photo is decoded or
 * embedded a second time.
 */
async function embeddedValidation(head: tfl.LayersModel, galleries: PersonGallery[], labels: string[], entries: GalleryEntry[], photos: LabelledPhoto[], ms: Map<string, number>): Promise<EvalSample[]> {
  if (entries.length !== photos.length) throw new Error(`internal error: ${entries.length} validation embeddings for ${photos.length} photos`);
  const classified = await classifyEmbeddings(head, galleries, entries.map((e) => decodeVector(e.views[0]!)));
  return entries.map((entry, i) => {
    const { probs, score } = classified[i]!;
    return photoSample(photos[i]!, { box: entry.box!, score, topK: rankScores(probs, labels, VALIDATION_TOP_K) }, ms.get(entry.hash));
  });
}

async function trainEmbedding(base: EmbeddingBaseRow, config: TrainConfig, runtime: Runtime, p: Prepared, emit: EventSink, manifest: ModelManifest): Promise<Trained> {
  const previous = config.force ? await readGallery(config.outDir).catch(() => undefined) : undefined;
  const recipeKey = JSON.stringify({ base: config.base, input: manifest.input, align: DEFAULT_ALIGN_CONFIG, seed: config.seed, augment: config.augment });
  const cache = new Map((previous?.recipeKey === recipeKey ? previous.entries : []).map((e) => [e.hash, e]));
  const total = p.split.train.length + p.split.val.length;
  let done = 0;
  const embedding = photoEmbedding(base, config, runtime, manifest.input);
  const embedMs = new Map<string, number>();
  const ctx = {
    embedPhoto: embedding.embed,
    inFlight: embedding.inFlight,
    cache,
    seed: config.seed,
    onSkip: p.onSkip,
    onEmbedded: (entry: GalleryEntry, embedded: EmbeddedPhoto) => embedMs.set(entry.hash, embedded.ms),
    onProgress: () => emit({ type: 'progress', stage: 'features', done: ++done, total }),
  };
  let train: GalleryEntry[];
  let val: GalleryEntry[];
  try {
    train = await embedPhotos(p.split.train, 'train', { ...ctx, views: config.augment ? config.augmentViews : 1 });
    val = await embedPhotos(p.split.val, 'val', { ...ctx, views: 1 });
  } finally {
    await embedding.close();
  }
  reportDataset(emit, p, train, val);
  const { head, history } = await trainEmbeddingHead(train, val, p.split.people, config, emit);
  const gallery: Gallery = { version: 1, recipeKey, entries: [...train, ...val] };
  const galleries = personGalleries(train, p.split.people);
  return {
    nameValidation: (photos) => embeddedValidation(head, galleries, p.split.people, val, photos, embedMs),
    dispose: () => head.dispose(),
    model: head,
    history,
    gallery,
    threshold: unknownThreshold(galleries, base, config.targetFar),
  };
}

/** Trains a recognizer from a folder of people's photos and writes the model directory atomically. */
export async function train(input: Partial<TrainConfig> & Pick<TrainConfig, 'dataDir' | 'outDir'>, emit: EventSink = () => {}, hooks: TrainHooks = {}): Promise<TrainResult> {
  const config = resolveTrainConfig(input);
  const started = performance.now();
  await assertReplaceable(config.outDir, config.force);
  await initEngine();
  const runtime = await chooseRuntime(config.engine);
  const split = await loadDatasetSplit(config.dataDir, { valSplit: config.valSplit, seed: config.seed });
  for (const message of await datasetWarnings(split)) emit({ type: 'warning', message });
  const skipped: SkippedPhoto[] = [];
  const onSkip = (s: SkippedPhoto) => {
    skipped.push(s);
    emit({ type: 'skip', ...s });
  };
  const manifest = draftManifest(config, split.people);
  const prepared: Prepared = { split, onSkip, skipped };

  const base = BASE_ROWS[config.base];
  const trained =
    base.kind === 'classifier' ? await trainClassifier(base, config, runtime, prepared, emit, manifest, hooks) : await trainEmbedding(base, config, runtime, prepared, emit, manifest);
  const validation = await validate(trained, split.people, split.val.filter((p) => !skipped.some((s) => s.file === p.file)), trained.threshold);
  manifest.threshold = validation.threshold;
  manifest.metrics = { valAccuracy: validation.report?.top1Accuracy ?? undefined, trainSeconds: (performance.now() - started) / 1000 };
  if (validation.report) emit({ type: 'evaluation', report: validation.report });

  await writeDirAtomic(
    config.outDir,
    async (dir) => {
      await trained.model.save(fileSystemIO(dir));
      await writeFileAtomic(path.join(dir, LABELS_FILE), labelsText(split.people));
      await writeFileAtomic(path.join(dir, HISTORY_FILE), JSON.stringify(trained.history, null, 2));
      await writeFileAtomic(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
      if (trained.gallery) await writeFileAtomic(path.join(dir, GALLERY_FILE), JSON.stringify(trained.gallery));
      if (validation.report) {
        const samples = validation.samples.map(({ thumbnail: _, ...rest }) => rest);
        await writeFileAtomic(path.join(dir, EVAL_FILE), JSON.stringify({ report: validation.report, samples }, null, 2));
        const baseName = base.describe(config);
        const modelInfo = { labels: manifest.labels, base: baseName, threshold: manifest.threshold, createdAt: manifest.createdAt, name: path.basename(config.outDir) };
        await writeFileAtomic(path.join(dir, REPORT_FILE), renderReport({ report: validation.report, history: trained.history, model: modelInfo, samples: validation.samples }));
      }
    },
    { force: config.force, onStep: hooks.onSwapStep },
  );
  trained.dispose();
  emit({ type: 'saved', outDir: config.outDir, valAccuracy: manifest.metrics.valAccuracy, ms: performance.now() - started });
  return { outDir: config.outDir, manifest, skipped };
}
