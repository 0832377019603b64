import * as tf from '@tensorflow/tfjs-core';
import { sha256Hex } from '../util/hash.js';
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { FacetrainError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';

interface ModelJson {
  modelTopology?: unknown;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  userDefinedMetadata?: Record<string, unknown>;
  signature?: unknown;
  modelInitializer?: unknown;
  trainingConfig?: tf.io.TrainingConfig;
  /** Size and SHA-256 of each weight file, written at training time (TF.js ignores the field). */
  weightFiles?: Record<string, { bytes: number; sha256: string }>;
}

export const WEIGHTS_FILE = 'weights.bin';

/** TF.js has no file:// handler without tfjs-node; this reads and writes the standard layout. */
export function fileSystemIO(dir: string): tf.io.IOHandler {
  return {
    load: () => modelFileIO(path.join(dir, 'model.json')).load!(),
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weightData = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const json: ModelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
        weightFiles: { [WEIGHTS_FILE]: { bytes: weightData.byteLength, sha256: sha256Hex(new Uint8Array(weightData)) } },
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      await writeFileAtomic(path.join(dir, WEIGHTS_FILE), new Uint8Array(weightData));
      await writeFileAtomic(path.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}

/**
 * Read-only IOHandler for a TF.js model stored as `<name>.json` beside its weight files
 * (the layout @vladmandic/human ships: blazeface.json + blazeface.bin in one folder).
 */
export function modelFileIO(jsonPath: string): tf.io.IOHandler {
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      let json: ModelJson;
      try {
        json = JSON.parse(await readFile(jsonPath, 'utf8')) as ModelJson;
      } catch (err) {
        throw new FacetrainError('FT_ERR_MODEL', `Cannot read ${jsonPath}: ${(err as Error).message}; point to a TF.js model json file`, { cause: err });
      }
      const all = await readWeights(jsonPath, json);
      return {
        modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        trainingConfig: json.trainingConfig,
        userDefinedMetadata: json.userDefinedMetadata as Record<string, {}> | undefined,
        signature: json.signature as {} | undefined,
        modelInitializer: json.modelInitializer as {} | undefined,
        weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer,
      };
    },
  };
}


const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8 };

/** Bytes the weight specs need, or undefined when a string weight makes it unknowable in advance. */
function expectedWeightBytes(specs: tf.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const spec of specs) {
    const perValue = DTYPE_BYTES[spec.quantization?.dtype ?? spec.dtype];
    if (perValue === undefined) return undefined;
    total += perValue * spec.shape.reduce((a, b) => a * b, 1);
  }
  return total;
}

/**
 * Reads a model's weight files, each confined to the model's folder (a path leaving it, even through
 * a symlink, is refused), and checks their total size against the specs and each file against the
 * checksum recorded when it was written: a truncated or swapped weights file is one clear error, not
 * a RangeError or silently wrong answers.
 */
async function readWeights(jsonPath: string, json: ModelJson): Promise<Buffer> {
  const dir = await realpath(path.dirname(jsonPath));
  const refuse = (what: string) => new FacetrainError('FT_ERR_MODEL', `${jsonPath}: ${what}; restore the model directory or retrain it`);
  const buffers: Buffer[] = [];
  for (const name of json.weightsManifest.flatMap((group) => group.paths)) {
    const file = path.resolve(dir, name);
    const inside = (p: string) => p.startsWith(dir + path.sep);
    let resolved: string;
    try {
      resolved = inside(file) ? await realpath(file) : file;
    } catch (err) {
      throw refuse(`weight file ${name} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (!inside(resolved)) throw refuse(`weight file ${name} is outside the model's folder, which is refused`);
    const bytes = await readFile(resolved);
    const recorded = json.weightFiles?.[name];
    if (recorded && (recorded.bytes !== bytes.length || recorded.sha256 !== sha256Hex(bytes))) {
      throw refuse(`${name} is ${bytes.length} bytes and does not match the size (${recorded.bytes}) and checksum recorded when the model was written: it is damaged or from another model`);
    }
    buffers.push(bytes);
  }
  const all = Buffer.concat(buffers);
  const expected = expectedWeightBytes(json.weightsManifest.flatMap((group) => group.weights));
  if (expected !== undefined && expected !== all.length) {
    throw refuse(`the weight files hold ${all.length} bytes but model.json describes ${expected}: they are truncated or from another model`);
  }
  return all;
}
