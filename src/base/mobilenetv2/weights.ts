import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileSystemIO } from '../../tfjs/model-io.js';
import { FacetrainError } from '../../errors.js';
import { readKerasH5Weights } from '../../util/keras-h5.js';

/**
 * `<layer>/<weight>` (e.g. `bn_Conv1/moving_mean`): the part of a weight name that Keras .h5 files,
 * TF.js manifests and tfjs-layers variables agree on, whatever scopes or `:0` suffixes they add.
 */
export function layerWeightKey(layer: string, weightName: string): string {
  const short = weightName.replace(/:\d+$/, '').split('/').pop() ?? weightName;
  return `${layer}/${short}`;
}

function keyFromQualifiedName(name: string): string {
  const parts = name.replace(/:\d+$/, '').split('/');
  return parts.length < 2 ? name : layerWeightKey(parts[parts.length - 2], name);
}

async function readTfjsWeights(dir: string): Promise<tf.NamedTensorMap> {
  // fileSystemIO always implements load; the IOHandler type just marks it optional.
  const artifacts = await fileSystemIO(dir).load!();
  if (!artifacts.weightSpecs || artifacts.weightData === undefined) {
    throw new FacetrainError('FT_ERR_WEIGHTS', `${dir}/model.json lists no weights; pass a TF.js layers model saved with its weights`);
  }
  const byName = tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);
  return Object.fromEntries(Object.entries(byName).map(([name, tensor]) => [keyFromQualifiedName(name), tensor]));
}

async function readH5Weights(file: string): Promise<tf.NamedTensorMap> {
  const map: tf.NamedTensorMap = {};
  for (const { layer, weights } of await readKerasH5Weights(file)) {
    for (const w of weights) map[layerWeightKey(layer, w.name)] = tf.tensor(w.values, w.shape, 'float32');
  }
  return map;
}

/**
 * Reads weights keyed by {@link layerWeightKey} from a TF.js layers model directory (or its
 * model.json) or a Keras 2 .h5 file (weights-only or whole model). Caller disposes the tensors.
 */
export async function readNamedWeights(source: string): Promise<tf.NamedTensorMap> {
  let isDir: boolean;
  try {
    isDir = (await stat(source)).isDirectory();
  } catch (err) {
    throw new FacetrainError('FT_ERR_WEIGHTS', `${source}: not found (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}); check the \`weights\` path`, { cause: err });
  }
  if (isDir) return readTfjsWeights(source);
  if (path.basename(source) === 'model.json') return readTfjsWeights(path.dirname(source));
  return readH5Weights(source);
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * Copies weights into `model` by layer name, checking every weight is present with the right shape
 * before changing anything. Extra weights in the source (e.g. a classifier head) are ignored so a
 * base can be taken out of a bigger saved model.
 * @throws FacetrainError FT_ERR_WEIGHTS naming `source` and the first missing or mis-shaped weight.
 */
export function assignNamedWeights(model: tfl.LayersModel, weights: tf.NamedTensorMap, source: string): void {
  const plan = model.layers
    .filter((layer) => layer.weights.length > 0)
    .map((layer) => {
      const values = layer.weights.map((variable) => {
        const key = layerWeightKey(layer.name, variable.originalName);
        const value = weights[key];
        const expected = variable.read().shape;
        if (!value) throw new FacetrainError('FT_ERR_WEIGHTS', `${source} has no weight ${key} needed by ${model.name}; pass weights saved from the same architecture and width (alpha)`);
        if (!tf.util.arraysEqual(value.shape, expected)) {
          throw new FacetrainError('FT_ERR_WEIGHTS', `${source}: ${key} has shape ${shapeText(value.shape)} but ${model.name} needs ${shapeText(expected)}; pass weights for the same alpha and architecture`);
        }
        return value;
      });
      return { layer, values };
    });
  for (const { layer, values } of plan) layer.setWeights(values);
}

/** Reads `source` (see {@link readNamedWeights}) into `model` by layer name. */
export async function loadWeightsByName(model: tfl.LayersModel, source: string): Promise<void> {
  const weights = await readNamedWeights(source);
  try {
    assignNamedWeights(model, weights, source);
  } finally {
    tf.dispose(weights);
  }
}
