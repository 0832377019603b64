import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { BaseName } from '../config.js';
import type { InputSpec } from '../faces/input-spec.js';
import { FacetrainError } from '../errors.js';

export const MANIFEST_FILE = 'facetrain.json';
export const LABELS_FILE = 'labels.txt';
export const HISTORY_FILE = 'history.json';
export const EVAL_FILE = 'eval.json';
export const REPORT_FILE = 'report.html';

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
  // compiled to dist/src/model-dir/: the package root is three levels up
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
