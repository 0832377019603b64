import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { BaseName } from '../config.js';
import type { AlignConfig } from '../faces/align.js';
import { FacetrainError } from '../util/errors.js';

export const MANIFEST_FILE = 'facetrain.json';
export const LABELS_FILE = 'labels.txt';
export const HISTORY_FILE = 'history.json';
export const EVAL_FILE = 'eval.json';
export const REPORT_FILE = 'report.html';

/** What the recognizer expects as input; travels with every export. */
export interface InputSpec {
  size: number;
  channels: 'RGB';
  /** value = (pixel - mean) / std */
  mean: number;
  std: number;
  /** 'aligned-face': a crop made by facetrain's detector + aligner; 'whole-image': the photo stretched to size x size. */
  crop: 'aligned-face' | 'whole-image';
  /** Where the eyes go in an aligned face, as fractions of the side. */
  align?: AlignConfig;
  /** Aligned instead to this five-point template (scaled to `size`), for bases trained that way. */
  template?: 'arcface-112';
}

/** The input spec as exporters take it: mean and std per RGB channel. */
export function perChannelInput({ size, mean, std }: InputSpec): { size: number; mean: number[]; std: number[] } {
  return { size, mean: [mean, mean, mean], std: [std, std, std] };
}

export interface ModelManifest {
  format: 'facetrain-model';
  formatVersion: 1;
  base: { name: BaseName; alpha?: number; fineTuneAt?: number; layerLayout?: string };
  input: InputSpec;
  labels: string[];
  /** Scores below this are reported as unknown. */
  threshold: number;
  seed: number;
  config: Record<string, unknown>;
  versions: Record<string, string>;
  metrics: { valAccuracy?: number; trainSeconds?: number; [k: string]: unknown };
  createdAt: string;
}

const require = createRequire(import.meta.url);

export function packageVersions(): Record<string, string> {
  // compiled to dist/src/model/: the package root is three levels up
  const version = (manifest: string) => (require(manifest) as { version: string }).version;
  return { facetrain: version('../../../package.json'), tfjs: version('@tensorflow/tfjs-core/package.json'), node: process.versions.node };
}

export async function readManifest(dir: string): Promise<ModelManifest> {
  const file = path.join(dir, MANIFEST_FILE);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as ModelManifest;
  } catch (err) {
    throw new FacetrainError('FT_ERR_MODEL', `${file}: cannot be read (${(err as Error).message.split('\n')[0]}); pass a model directory written by facetrain train`, { cause: err });
  }
}

export function labelsText(labels: string[]): string {
  return `${labels.join('\n')}\n`;
}
