import type { RuntimeName } from './runtime/runtime.js';
import { invalidOption } from './errors.js';

export const BASES = Object.freeze(['faceres', 'mobilenetv2', 'mobilefacenet'] as const);
export type BaseName = (typeof BASES)[number];

export const MOBILENET_ALPHAS = Object.freeze([0.35, 0.5, 0.75, 1.0, 1.3, 1.4] as const);

/** Everything `train` can be told; every field has a CLI flag and a default below. */
export interface TrainConfig {
  /** Folder of `<person>/<photo>` (or `train/` + `val/` of those). */
  dataDir: string;
  /** Model directory to write. */
  outDir: string;
  base: BaseName;
  /** MobileNetV2 width multiplier. */
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

export const TRAIN_DEFAULTS: Omit<TrainConfig, 'dataDir' | 'outDir'> = Object.freeze({
  base: 'mobilefacenet',
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

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw invalidOption(name, `an integer from ${min} to ${max}`, value);
}

function checkNumber(name: string, value: number, min: number, max: number, exclusiveMin = false): void {
  if (!Number.isFinite(value) || value > max || value < min || (exclusiveMin && value === min)) {
    throw invalidOption(name, `a number ${exclusiveMin ? 'above' : 'from'} ${min} ${exclusiveMin ? 'and up to' : 'to'} ${max}`, value);
  }
}

/**
 * A Dense head on unit-length face embeddings starts with tiny logits: the recipe's 10 epochs at
 * 1e-3 leave it unsure (loss 1.25 on five-celebrities), 30 at 1e-2 converge (0.03) in under a second.
 * One view per photo: jittered copies gave the same validation accuracy on five-celebrities, bbt,
 * Yale and ORL (100 % with 1, 2 and 4 views, seed 1) and cost one embedding each (86 % of training).
 */
export const FACERES_HEAD_DEFAULTS: Partial<TrainConfig> = Object.freeze({ epochs: 30, learningRate: 1e-2, augmentViews: 1 });

/** Fills defaults (the base's own first) and rejects out-of-range values with a message naming the flag. */
export function resolveTrainConfig(input: Partial<TrainConfig> & Pick<TrainConfig, 'dataDir' | 'outDir'>): TrainConfig {
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as Partial<TrainConfig>;
  // every face-embedding base trains the same Dense head on unit-length embeddings
  const baseDefaults = (given.base ?? TRAIN_DEFAULTS.base) !== 'mobilenetv2' ? FACERES_HEAD_DEFAULTS : {};
  const config = { ...TRAIN_DEFAULTS, ...baseDefaults, ...given } as TrainConfig;
  if (!BASES.includes(config.base)) throw invalidOption('--base', BASES.join(' or '), config.base);
  if (!(MOBILENET_ALPHAS as readonly number[]).includes(config.alpha)) throw invalidOption('--alpha', MOBILENET_ALPHAS.join(', '), config.alpha);
  checkNumber('--val-split', config.valSplit, 0, 0.9, true);
  checkInteger('--seed', config.seed, 0, 2 ** 32 - 1);
  checkInteger('--epochs', config.epochs, 1, 10_000);
  checkInteger('--fine-tune-epochs', config.fineTuneEpochs, 0, 10_000);
  checkInteger('--fine-tune-at', config.fineTuneAt, 1, 10_000);
  checkInteger('--batch-size', config.batchSize, 1, 4096);
  checkInteger('--augment-views', config.augmentViews, 1, 64);
  checkNumber('--learning-rate', config.learningRate, 0, 10, true);
  checkNumber('--fine-tune-learning-rate', config.fineTuneLearningRate, 0, 10, true);
  checkNumber('--dropout', config.dropout, 0, 0.95);
  checkNumber('--target-far', config.targetFar, 0, 0.5, true);
  return config;
}
