import type { RuntimeName } from './runtime/runtime.js';
import { invalidOption } from './errors.js';

/**
 * The bases' names. This layer sits below base/ and names none: base/index.ts adds one member per
 * row of its BASE_ROWS table to this interface (declaration merging), so that table is the one list.
 */
export interface BaseNames {}
export type BaseName = keyof BaseNames & string;

/** Everything `train` can be told; every field has a CLI flag and a default (TRAIN_OPTION_DEFAULTS below, `base` in base/index.ts). */
export interface TrainConfig {
  /** Folder of `<person>/<photo>` (or `train/` + `val/` of those). */
  dataDir: string;
  /** Model directory to write. */
  outDir: string;
  base: BaseName;
  /** Width multiplier of a base that comes in several widths (its row's `alphas`); the others ignore it. */
  alpha: number;
  /** TF.js layers model directory or Keras .h5 weights for the MobileNetV2 base. */
  weights?: string;
  /** Detect and align faces; false keeps the classic whole-image behaviour. */
  detect: boolean;
  valSplit: number;
  seed: number;
  epochs: number;
  learningRate: number;
  fineTuneEpochs: number;
  fineTuneAt: number;
  fineTuneLearningRate: number;
  batchSize: number;
  augment: boolean;
  /** Views per training photo when augmenting (the original plus jittered copies), each cached once. */
  augmentViews: number;
  dropout: number;
  /** Face-embedding bases: the share of strangers the unknown threshold may let through, set from simulated strangers. */
  targetFar: number;
  /** Replace an existing model directory. */
  force: boolean;
  /** Runtime for the frozen networks (features, embeddings, validation); default onnx when installed. */
  engine?: RuntimeName;
}

export const TRAIN_OPTION_DEFAULTS: Omit<TrainConfig, 'dataDir' | 'outDir' | 'base'> = Object.freeze({
  alpha: 0.35,
  detect: true,
  valSplit: 0.2,
  seed: 42,
  epochs: 10,
  learningRate: 1e-3,
  fineTuneEpochs: 5,
  fineTuneAt: 100,
  fineTuneLearningRate: 1e-5,
  batchSize: 16,
  augment: true,
  augmentViews: 4,
  dropout: 0.2,
  targetFar: 0.01,
  force: false,
});

/** The values a number option takes: from `min` (or just above it) to `max`, whole numbers only if `integer`. */
export interface NumberRange {
  min: number;
  max: number;
  integer?: true;
  aboveMin?: true;
}

/** The range of each number of TrainConfig, checked by checkTrainConfig (and shown in the CLI's help). */
export const TRAIN_RANGES: Readonly<Partial<Record<keyof TrainConfig, NumberRange>>> = Object.freeze({
  valSplit: { min: 0, max: 0.9, aboveMin: true },
  seed: { min: 0, max: 2 ** 32 - 1, integer: true },
  epochs: { min: 1, max: 10_000, integer: true },
  fineTuneEpochs: { min: 0, max: 10_000, integer: true },
  fineTuneAt: { min: 1, max: 10_000, integer: true },
  batchSize: { min: 1, max: 4096, integer: true },
  augmentViews: { min: 1, max: 64, integer: true },
  learningRate: { min: 0, max: 10, aboveMin: true },
  fineTuneLearningRate: { min: 0, max: 10, aboveMin: true },
  dropout: { min: 0, max: 0.95 },
  targetFar: { min: 0, max: 0.5, aboveMin: true },
});

/** A threshold on the cosine similarity of two face embeddings (verify, search). */
export const SIMILARITY_RANGE: NumberRange = Object.freeze({ min: -1, max: 1 });

export function describeRange({ min, max, integer, aboveMin }: NumberRange): string {
  if (integer) return `an integer from ${min} to ${max}`;
  return aboveMin ? `a number above ${min} and up to ${max}` : `a number from ${min} to ${max}`;
}

/** Rejects a value outside `range`, naming the library option `name` (front ends name it their way). */
export function checkRange(name: string, value: number, range: NumberRange): void {
  const inside = Number.isFinite(value) && value >= range.min && value <= range.max && !(range.aboveMin && value === range.min) && (!range.integer || Number.isInteger(value));
  if (!inside) throw invalidOption(name, describeRange(range), value);
}

/**
 * A Dense head on unit-length face embeddings starts with tiny logits: the recipe's 10 epochs at
 * 1e-3 leave it unsure (loss 1.25 on five-celebrities), 30 at 1e-2 converge (0.03) in under a second.
 * base/index.ts applies them to every face-embedding base. One view per photo: jittered copies gave
 * the same validation accuracy on five-celebrities, bbt, Yale and ORL (100 % with 1, 2 and 4 views,
 * seed 1) and cost one embedding each (86 % of training).
 */
export const EMBEDDING_HEAD_DEFAULTS: Partial<TrainConfig> = Object.freeze({ epochs: 30, learningRate: 1e-2, augmentViews: 1 });

/** Rejects out-of-range values with a message naming the option (the base's name and widths are checked by base/index.ts resolveTrainConfig). */
export function checkTrainConfig(config: TrainConfig): TrainConfig {
  for (const [name, range] of Object.entries(TRAIN_RANGES) as [keyof TrainConfig, NumberRange][]) checkRange(name, config[name] as number, range);
  return config;
}
