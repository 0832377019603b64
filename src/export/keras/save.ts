import type * as tfl from '@tensorflow/tfjs-layers';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Group, File as H5File } from 'h5wasm/node';
import { FacetrainError } from '../../errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { toKerasModelConfig } from './config.js';
import {
  KERAS_BACKEND,
  KERAS_VERSION,
  LAYER_NAMES_ATTR,
  MODEL_WEIGHTS_GROUP,
  ROOT_ATTRS,
  TOP_LEVEL_WEIGHTS_GROUP,
  WEIGHT_NAMES_ATTR,
  kerasWeightName,
  toAsciiJson,
} from './format.js';
import { createH5, writeNameListAttr } from './h5.js';

export interface SaveKerasH5Options {
  /** Person names in output-unit order, stored as the root attribute `class_names`. */
  labels?: string[];
  /** The output the labels name the units of (default the first). */
  labelsOutput?: number;
  /** More root attributes (strings), e.g. the recognition pipeline's description; Keras ignores them. */
  attributes?: Record<string, string>;
}

/** h5py creates intermediate groups for `a/b:0`; h5wasm does not. */
function ensureGroupPath(group: Group, parts: string[]): Group {
  let current = group;
  for (const part of parts) {
    const existing = current.get(part);
    current = existing === null ? current.create_group(part) : (existing as Group);
  }
  return current;
}

function writeLayerWeights(parent: Group, layer: tfl.layers.Layer): void {
  const group = parent.create_group(layer.name);
  // tfjs ports the order Keras' `_legacy_weights` loads by (trainable first, nested models
  // included), given the trainable flags toKerasModelConfig writes.
  const weights = layer.weights;
  const names = weights.map((w) => kerasWeightName(w.originalName));
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate) {
    throw new FacetrainError('FT_ERR_UNSUPPORTED', `Layer "${layer.name}" has two weights named ${duplicate}; Keras .h5 needs unique weight names per layer`);
  }
  writeNameListAttr(group, WEIGHT_NAMES_ATTR, names);
  weights.forEach((weight, i) => {
    const parts = names[i].split('/');
    const dir = ensureGroupPath(group, parts.slice(0, -1));
    const values = weight.read().dataSync() as Float32Array | Int32Array;
    dir.create_dataset({ name: parts[parts.length - 1], data: values, shape: weight.shape as number[] });
    // h5wasm reports a failed create on stderr only, so check the dataset is there.
    if (group.get(names[i]) === null) throw new Error(`HDF5 could not create dataset ${layer.name}/${names[i]}`);
  });
}

function checkLabels(model: tfl.LayersModel, labels: string[], output: number): void {
  const { shape } = model.outputs[output]!;
  const units = shape[shape.length - 1];
  if (labels.length !== units) {
    throw new FacetrainError('FT_ERR_INVALID_OPTION', `Expected ${units} labels (one per output unit of model "${model.name}") but received ${labels.length}`);
  }
}

function writeModel(file: H5File, model: tfl.LayersModel, { labels, attributes = {} }: SaveKerasH5Options): void {
  // Attribute types follow h5py 3 under Keras: str -> UTF-8 vlen, bytes -> ASCII vlen.
  file.create_attribute(ROOT_ATTRS.kerasVersion, KERAS_VERSION);
  file.create_attribute(ROOT_ATTRS.backend, KERAS_BACKEND);
  file.create_attribute(ROOT_ATTRS.modelConfig, toAsciiJson(toKerasModelConfig(model)), null, 'A');
  if (labels) file.create_attribute(ROOT_ATTRS.classNames, labels, [labels.length]);
  for (const [key, value] of Object.entries(attributes)) file.create_attribute(key, value);

  const weightsGroup = file.create_group(MODEL_WEIGHTS_GROUP);
  writeNameListAttr(weightsGroup, LAYER_NAMES_ATTR, model.layers.map((l) => l.name));
  weightsGroup.create_attribute(ROOT_ATTRS.backend, KERAS_BACKEND, null, 'A');
  weightsGroup.create_attribute(ROOT_ATTRS.kerasVersion, KERAS_VERSION, null, 'A');
  // Keras creates the groups sorted by name; the load order comes from layer_names.
  const sorted = [...model.layers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const layer of sorted) writeLayerWeights(weightsGroup, layer);
  writeNameListAttr(weightsGroup.create_group(TOP_LEVEL_WEIGHTS_GROUP), WEIGHT_NAMES_ATTR, []);
}

/**
 * Saves a tfjs-layers model as a Keras 2 HDF5 model file (what `model.save('x.h5')` writes in
 * tf.keras 2.x): graph in `model_config`, weights under `model_weights`. No optimizer state or
 * training_config: load it in Keras with `load_model(file, compile=False)` and compile there.
 * The file appears atomically: readers never see a half-written one.
 */
export async function saveKerasH5(model: tfl.LayersModel, file: string, opts: SaveKerasH5Options = {}): Promise<void> {
  if (opts.labels) checkLabels(model, opts.labels, opts.labelsOutput ?? 0);
  // h5wasm can only write to a path; build the file privately, then publish it in one rename.
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), 'facetrain-h5-'));
  try {
    const tmpFile = path.join(tmpDir, 'model.h5');
    const h5 = await createH5(tmpFile);
    try {
      writeModel(h5, model, opts);
    } finally {
      h5.close();
    }
    await writeFileAtomic(file, await readFile(tmpFile));
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
}
