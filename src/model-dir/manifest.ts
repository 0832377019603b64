import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { BaseName } from '../config.js';
import type { InputSpec } from '../faces/input-spec.js';
import { FacetrainError } from '../errors.js';
import { recoverInterruptedSwap } from '../util/fs.js';
import { schemaErrors } from './schema-errors.js';

export const MANIFEST_FILE = 'facetrain.json';
export const LABELS_FILE = 'labels.txt';
export const HISTORY_FILE = 'history.json';
export const EVAL_FILE = 'eval.json';
export const REPORT_FILE = 'report.html';

const InputSchema = Type.Unsafe<InputSpec>(
  Type.Object({
    size: Type.Integer({ minimum: 1 }),
    channels: Type.String(),
    mean: Type.Number(),
    std: Type.Number(),
    // strings, not enums: values other branches add must not make a model unreadable
    crop: Type.String(),
    align: Type.Optional(Type.Object({ eyeDistance: Type.Number(), eyeY: Type.Number() })),
    template: Type.Optional(Type.String()),
  }),
);

/**
 * facetrain.json: one schema for the type and for the check on every read. Fields not listed are
 * kept and ignored (newer writers add some); a listed field of the wrong type is an error.
 */
export const ManifestSchema = Type.Object({
  format: Type.Literal('facetrain-model'),
  formatVersion: Type.Literal(1),
  base: Type.Object({
    name: Type.Unsafe<BaseName>(Type.String()),
    alpha: Type.Optional(Type.Number()),
    fineTuneAt: Type.Optional(Type.Integer()),
    layerLayout: Type.Optional(Type.String()),
  }),
  input: InputSchema,
  labels: Type.Array(Type.String()),
  /** Scores below this are reported as unknown. */
  threshold: Type.Number(),
  seed: Type.Number(),
  config: Type.Record(Type.String(), Type.Unknown()),
  versions: Type.Record(Type.String(), Type.String()),
  metrics: Type.Object({ valAccuracy: Type.Optional(Type.Number()), trainSeconds: Type.Optional(Type.Number()) }, { additionalProperties: Type.Unknown() }),
  createdAt: Type.String(),
});

export type ModelManifest = Static<typeof ManifestSchema>;

const checkManifest = TypeCompiler.Compile(ManifestSchema);

const require = createRequire(import.meta.url);

export function packageVersions(): Record<string, string> {
  // compiled to dist/src/model-dir/: the package root is three levels up
  const version = (manifest: string) => (require(manifest) as { version: string }).version;
  return { facetrain: version('../../../package.json'), tfjs: version('@tensorflow/tfjs-core/package.json'), node: process.versions.node };
}

/** Reads a model directory's manifest; every open goes through here, so it first repairs a change a crash interrupted. */
export async function readManifest(dir: string): Promise<ModelManifest> {
  try {
    recoverInterruptedSwap(dir);
  } catch (err) {
    throw new FacetrainError('FT_ERR_MODEL', `${dir}: an interrupted change could not be repaired (${(err as Error).message.split('\n')[0]}); check the folder's permissions`, { cause: err });
  }
  const file = path.join(dir, MANIFEST_FILE);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new FacetrainError('FT_ERR_MODEL', `${file}: cannot be read (${(err as Error).message.split('\n')[0]}); pass a model directory written by \`train()\``, { cause: err });
  }
  if (!checkManifest.Check(json)) throw new FacetrainError('FT_ERR_MODEL', `${file}: not a facetrain model manifest (${schemaErrors(checkManifest, json)}); pass a model directory written by \`train()\``);
  return json;
}

export function labelsText(labels: string[]): string {
  return `${labels.join('\n')}\n`;
}

/** Changes whenever the model's people or templates do (enrol and forget stamp `updatedAt`): what an export of the model was made from. */
export function modelVersion(manifest: ModelManifest): string {
  const { updatedAt } = manifest as { updatedAt?: unknown };
  return typeof updatedAt === 'string' ? updatedAt : manifest.createdAt;
}
