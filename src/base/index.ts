import { EMBEDDING_HEAD_DEFAULTS, TRAIN_OPTION_DEFAULTS, checkTrainConfig, type BaseName, type TrainConfig } from '../config.js';
import { invalidOption } from '../errors.js';
import { FACERES_BASE } from './faceres/index.js';
import { MOBILEFACENET_BASE } from './mobilefacenet/index.js';
import { MOBILENETV2_BASE } from './mobilenetv2/index.js';
import type { BaseRow } from './row.js';

/** Every base by name: adding one is a folder under base/ exporting its row, and a line here (the one list of names). */
export const BASE_ROWS = Object.freeze({
  faceres: FACERES_BASE as BaseRow,
  mobilefacenet: MOBILEFACENET_BASE as BaseRow,
  mobilenetv2: MOBILENETV2_BASE as BaseRow,
});

declare module '../config.js' {
  /** config.ts's BaseName: the names of BASE_ROWS. */
  interface BaseNames extends Record<keyof typeof BASE_ROWS, true> {}
}

export const BASES: readonly BaseName[] = Object.freeze(Object.keys(BASE_ROWS) as BaseName[]);

export const DEFAULT_BASE: BaseName = 'mobilefacenet';

export function isBaseName(name: string): name is BaseName {
  return Object.hasOwn(BASE_ROWS, name);
}

/** Every default of `train`: the default base and TRAIN_OPTION_DEFAULTS. */
export const TRAIN_DEFAULTS: Omit<TrainConfig, 'dataDir' | 'outDir'> = Object.freeze({ base: DEFAULT_BASE, ...TRAIN_OPTION_DEFAULTS });

/** Fills defaults (the base's own first: every face-embedding base trains its head longer) and rejects unknown bases, widths the base does not come in and out-of-range values, naming the option. */
export function resolveTrainConfig(input: Partial<TrainConfig> & Pick<TrainConfig, 'dataDir' | 'outDir'>): TrainConfig {
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as Partial<TrainConfig>;
  const base: string = given.base ?? DEFAULT_BASE;
  if (!isBaseName(base)) throw invalidOption('base', BASES.join(' or '), base);
  const row = BASE_ROWS[base];
  const baseDefaults = row.kind === 'embedding' ? EMBEDDING_HEAD_DEFAULTS : {};
  const config = checkTrainConfig({ ...TRAIN_DEFAULTS, ...baseDefaults, ...given, base } as TrainConfig);
  if (row.alphas && !row.alphas.includes(config.alpha)) throw invalidOption('alpha', row.alphas.join(', '), config.alpha);
  return config;
}
