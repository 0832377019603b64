import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Dataset, Group, File as H5File } from 'h5wasm/node';
import { FacetrainError } from '../../errors.js';
import { pathExists } from '../../util/fs.js';
import { hasHdf5Signature, openH5ForReading, readFloat32, readNameListAttr, readStringAttr } from '../../util/keras-h5.js';
import { LAYER_NAMES_ATTR, MODEL_WEIGHTS_GROUP, ROOT_ATTRS, WEIGHT_NAMES_ATTR } from './format.js';
// Keras layers tfjs-layers lacks, registered so files using them build
import './unit-normalization.js';

/** h5wasm does not throw on a file it cannot open, so check first. */
async function openExisting(file: string): Promise<H5File> {
  if (!(await pathExists(file))) throw new FacetrainError('FT_ERR_MODEL', `${file} does not exist; pass the path of a Keras .h5 model file`);
  if (!(await hasHdf5Signature(file))) throw new FacetrainError('FT_ERR_MODEL', `${file} is not an HDF5 file; pass a Keras .h5 model file`);
  return openH5ForReading(file);
}

/** A name list; absent reads as empty, as Keras' loader takes it. */
function nameList(owner: Group | Dataset, name: string): string[] {
  return readNameListAttr(owner, name) ?? [];
}

async function modelFromConfig(h5: H5File, file: string): Promise<tfl.LayersModel> {
  const json = readStringAttr(h5, ROOT_ATTRS.modelConfig);
  if (json === undefined) throw new FacetrainError('FT_ERR_MODEL', `${file} has no model_config: it holds weights only, not a Keras model; save it with model.save()`);
  try {
    // tfjs reads Keras' snake_case topology itself (it camel-cases keys and values).
    return await tfl.models.modelFromJSON({ modelTopology: JSON.parse(json) });
  } catch (err) {
    throw new FacetrainError('FT_ERR_MODEL', `${file}: model_config cannot be built in TF.js (${(err as Error).message}); export a model made of built-in Keras layers`, { cause: err });
  }
}

function readWeightValues(group: Group, file: string): tf.Tensor[] {
  return nameList(group, WEIGHT_NAMES_ATTR).map((name) => {
    const dataset = group.get(name) as Dataset | null;
    if (dataset === null) throw new FacetrainError('FT_ERR_WEIGHTS', `${file}: weight ${group.path}/${name} is listed but missing; re-export the model`);
    return tf.tensor(readFloat32(dataset, `${group.path}/${name}`, file), dataset.shape ?? []);
  });
}

/**
 * Keras' topological load: the i-th layer that has weights takes the i-th saved layer that has
 * weights, each in `_legacy_weights` order, which is tfjs' `layer.weights` order.
 */
function loadWeights(model: tfl.LayersModel, h5: H5File, file: string): void {
  const root = h5.get(MODEL_WEIGHTS_GROUP) as Group | null;
  if (root === null) throw new FacetrainError('FT_ERR_WEIGHTS', `${file} has no model_weights group; re-export the model`);
  const saved = nameList(root, LAYER_NAMES_ATTR)
    .map((name) => root.get(name) as Group)
    .filter((group) => nameList(group, WEIGHT_NAMES_ATTR).length > 0);
  const layers = model.layers.filter((layer) => layer.weights.length > 0);
  if (saved.length !== layers.length) {
    throw new FacetrainError('FT_ERR_WEIGHTS', `${file} has weights for ${saved.length} layers but its model_config builds ${layers.length}; re-export the model`);
  }
  layers.forEach((layer, i) => {
    const values = readWeightValues(saved[i], file);
    try {
      layer.setWeights(values);
    } catch (err) {
      throw new FacetrainError('FT_ERR_WEIGHTS', `${file}: weights of ${saved[i].path} do not fit layer "${layer.name}" (${(err as Error).message}); re-export the model`, { cause: err });
    } finally {
      tf.dispose(values);
    }
  });
}

/** Builds the tfjs-layers model stored in a Keras HDF5 model file (as written by saveKerasH5). */
export async function loadKerasH5(file: string): Promise<tfl.LayersModel> {
  const h5 = await openExisting(file);
  try {
    const model = await modelFromConfig(h5, file);
    loadWeights(model, h5, file);
    return model;
  } finally {
    h5.close();
  }
}

/** The `class_names` saveKerasH5 stored with `labels`, or undefined for a file without them. */
export async function readKerasH5Labels(file: string): Promise<string[] | undefined> {
  const h5 = await openExisting(file);
  try {
    if (!(ROOT_ATTRS.classNames in h5.attrs)) return undefined;
    return nameList(h5, ROOT_ATTRS.classNames);
  } finally {
    h5.close();
  }
}
