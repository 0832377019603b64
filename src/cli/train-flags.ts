import type { Command } from 'cac';
import { BASES, TRAIN_DEFAULTS, type TrainConfig } from '../config.js';
import { engineOption, numberOption, optionalNumber } from './options.js';

type Field = Exclude<keyof TrainConfig, 'dataDir' | 'outDir'>;

interface TrainFlag {
  /** number: parsed and named by its flag on error; boolean: `--x` / `--no-x`; string: as typed. */
  kind: 'number' | 'boolean' | 'string' | 'engine';
  /** The value's placeholder in --help (numbers and strings). */
  value?: string;
  help: string;
  /** No CLI default: resolveTrainConfig takes the base's own (faceres trains its head longer). */
  perBase?: true;
}

/**
 * The train command's flags, one per TrainConfig field: the flag is the field in kebab-case, the
 * default is TRAIN_DEFAULTS' (or the base's, see `perBase`); resolveTrainConfig checks the ranges.
 */
const TRAIN_FLAGS: Record<Field, TrainFlag> = {
  base: { kind: 'string', value: 'name', help: `Frozen base: ${BASES.join(' | ')}` },
  alpha: { kind: 'number', value: 'n', help: 'MobileNetV2 width multiplier: 0.35 0.5 0.75 1.0 1.3 1.4' },
  detect: { kind: 'boolean', help: 'Detect and align faces (--no-detect: whole photos, as the classic tutorial)' },
  weights: { kind: 'string', value: 'path', help: 'MobileNetV2 ImageNet weights: a TF.js layers model directory or a Keras .h5 file' },
  valSplit: { kind: 'number', value: 'f', help: "Fraction of each person's photos held out for validation" },
  seed: { kind: 'number', value: 'n', help: 'Seed for the split, augmentation, initialisation and batch order' },
  epochs: { kind: 'number', value: 'n', help: 'Epochs training the head on the frozen base (default: 10; faceres: 30)', perBase: true },
  learningRate: { kind: 'number', value: 'lr', help: 'Adam learning rate for the head (default: 1e-3; faceres: 1e-2)', perBase: true },
  fineTuneEpochs: { kind: 'number', value: 'n', help: 'Epochs fine-tuning the base from --fine-tune-at (0 skips)' },
  fineTuneAt: { kind: 'number', value: 'i', help: 'First trainable base layer index when fine-tuning' },
  fineTuneLearningRate: { kind: 'number', value: 'lr', help: 'Adam learning rate when fine-tuning' },
  batchSize: { kind: 'number', value: 'n', help: 'Batch size' },
  augment: { kind: 'boolean', help: 'Flip, shift, zoom and brightness views of training photos (--no-augment: off)' },
  augmentViews: { kind: 'number', value: 'n', help: 'Cached views per training photo when augmenting' },
  dropout: { kind: 'number', value: 'rate', help: 'Dropout rate of the head' },
  targetFar: { kind: 'number', value: 'rate', help: 'Face-embedding bases: share of strangers the unknown threshold may accept' },
  force: { kind: 'boolean', help: 'Replace an existing model directory' },
  engine: { kind: 'engine', value: 'name', help: 'Runtime for the frozen networks: onnx (onnxruntime-node, default when installed) or tfjs' },
};

const kebab = (field: string) => field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const entries = Object.entries(TRAIN_FLAGS) as [Field, TrainFlag][];
const defaultOf = (field: Field, flag: TrainFlag) => (flag.perBase ? undefined : TRAIN_DEFAULTS[field]);

/** Registers one flag per TrainConfig field on `command`. */
export function addTrainFlags(command: Command): Command {
  for (const [field, flag] of entries) {
    const name = flag.value ? `--${kebab(field)} <${flag.value}>` : `--${kebab(field)}`;
    const fallback = defaultOf(field, flag);
    // --force is off unless given; --detect/--augment default on, so that --no-x turns them off
    command.option(name, flag.help, fallback === undefined || fallback === false ? undefined : { default: fallback });
  }
  return command;
}

/** The TrainConfig fields the flags set (cac camel-cases flag names back to the field names). */
export function trainConfigFromFlags(flags: Record<string, unknown>): Partial<TrainConfig> {
  const config: Record<string, unknown> = {};
  for (const [field, flag] of entries) {
    const value = flags[field];
    const name = `--${kebab(field)}`;
    const fallback = defaultOf(field, flag);
    if (flag.kind === 'number') config[field] = fallback === undefined ? optionalNumber(name, value) : numberOption(name, value);
    else if (flag.kind === 'boolean') config[field] = fallback === true ? value !== false : value === true;
    else if (flag.kind === 'engine') config[field] = engineOption(value);
    else config[field] = value === undefined ? undefined : String(value);
  }
  return config as Partial<TrainConfig>;
}
