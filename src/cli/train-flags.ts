import type { Command } from 'cac';
import { BASE_ROWS, BASES, TRAIN_DEFAULTS } from '../base/index.js';
import { TRAIN_RANGES, type TrainConfig } from '../config.js';
import { addFlags, ENGINE_FLAG, optionsFromFlags, type FlagTable } from './flag-table.js';

type Field = Exclude<keyof TrainConfig, 'dataDir' | 'outDir'>;

/** The widths of the bases that come in several: `mobilenetv2: 0.35 0.5 ...`. */
const WIDTHS = Object.entries(BASE_ROWS).flatMap(([name, row]) => (row.alphas ? [`${name}: ${row.alphas.join(' ')}`] : [])).join('; ');

/**
 * The train command's flags, one per TrainConfig field: the flag is the field in kebab-case, the
 * default is TRAIN_DEFAULTS' (or the base's, see `perBase`), the range TRAIN_RANGES' (checked here
 * before any photo is read, and by resolveTrainConfig for library callers).
 */
const TRAIN_FLAGS: FlagTable<Pick<TrainConfig, Field>> = {
  base: { kind: 'choice', value: 'name', choices: BASES, help: `Frozen base: ${BASES.join(' | ')}` },
  alpha: { kind: 'number', value: 'n', help: `Width multiplier (${WIDTHS})` },
  detect: { kind: 'boolean', help: 'Detect and align faces (--no-detect: whole photos, as the classic tutorial)' },
  weights: { kind: 'string', value: 'path', help: 'MobileNetV2 ImageNet weights: a TF.js layers model directory or a Keras .h5 file' },
  valSplit: { kind: 'number', value: 'f', help: "Fraction of each person's photos held out for validation" },
  seed: { kind: 'number', value: 'n', help: 'Seed for the split, augmentation, initialisation and batch order' },
  epochs: { kind: 'number', value: 'n', help: 'Epochs training the head on the frozen base (default: 10; face-embedding bases: 30)', perBase: true },
  learningRate: { kind: 'number', value: 'lr', help: 'Adam learning rate for the head (default: 1e-3; face-embedding bases: 1e-2)', perBase: true },
  fineTuneEpochs: { kind: 'number', value: 'n', help: 'Epochs fine-tuning the base from --fine-tune-at (0 skips)' },
  fineTuneAt: { kind: 'number', value: 'i', help: 'First trainable base layer index when fine-tuning' },
  fineTuneLearningRate: { kind: 'number', value: 'lr', help: 'Adam learning rate when fine-tuning' },
  batchSize: { kind: 'number', value: 'n', help: 'Batch size' },
  augment: { kind: 'boolean', help: 'Flip, shift, zoom and brightness views of training photos (--no-augment: off)' },
  augmentViews: { kind: 'number', value: 'n', help: 'Cached views per training photo when augmenting' },
  dropout: { kind: 'number', value: 'rate', help: 'Dropout rate of the head' },
  targetFar: { kind: 'number', value: 'rate', help: 'Face-embedding bases: share of strangers the unknown threshold may accept' },
  force: { kind: 'boolean', help: 'Replace an existing model directory' },
  engine: ENGINE_FLAG,
};

/** Registers one flag per TrainConfig field on `command`. */
export function addTrainFlags(command: Command): Command {
  return addFlags(command, TRAIN_FLAGS, TRAIN_DEFAULTS, TRAIN_RANGES);
}

/** The TrainConfig fields the flags set. */
export function trainConfigFromFlags(flags: Record<string, unknown>): Partial<TrainConfig> {
  return optionsFromFlags(flags, TRAIN_FLAGS, TRAIN_DEFAULTS, TRAIN_RANGES);
}
