import * as tfl from '@tensorflow/tfjs-layers';
import { FacetrainError } from '../../errors.js';
import { isModelSerialization, type KerasLayerSerialization, type KerasModelSerialization, type KerasObjectSerialization } from './format.js';

/**
 * tfjs writes 'normal' for its truncated-normal VarianceScaling; Keras 2 renames 'normal' the
 * same way on load, and Keras 3 only accepts the new name.
 */
function kerasInitializerNames(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(kerasInitializerNames);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) out[key] = kerasInitializerNames(inner);
  if (out.class_name === 'VarianceScaling') {
    const config = out.config as Record<string, unknown>;
    if (config.distribution === 'normal') out.config = { ...config, distribution: 'truncated_normal' };
  }
  return out;
}

function layerName(entry: KerasLayerSerialization): string {
  return entry.name ?? (entry.config.name as string);
}

/**
 * Keras freezes every sublayer when a model is frozen and saves that per layer; tfjs keeps
 * the sublayers' own flags and no flag on the nested model. Writing the effective flag keeps the
 * weight order Keras reads back (trainable weights first) equal to the order written.
 */
function withKerasTrainableFlags(container: tfl.LayersModel, entry: KerasModelSerialization, parentTrainable: boolean): KerasModelSerialization {
  const layers = entry.config.layers.map((layerEntry) => {
    const layer = container.getLayer(layerName(layerEntry));
    const trainable = parentTrainable && layer.trainable;
    const converted: KerasLayerSerialization = layerEntry.class_name === 'InputLayer' ? layerEntry : { ...layerEntry, config: { ...layerEntry.config, trainable } };
    if (layer instanceof tfl.LayersModel && isModelSerialization(converted)) return withKerasTrainableFlags(layer, converted, trainable) as KerasLayerSerialization;
    return converted;
  });
  const className = entry.class_name === 'Model' ? 'Functional' : entry.class_name;
  return { ...entry, class_name: className, config: { ...entry.config, layers } };
}

/** The model's graph as Keras 2.15's `model.get_config()` would serialize it. */
export function toKerasModelConfig(model: tfl.LayersModel): KerasModelSerialization {
  // tfjs adds keras_version/backend inside the topology; Keras keeps them as file attributes.
  const { class_name, config } = model.toJSON(null, false) as unknown as KerasObjectSerialization;
  const entry = kerasInitializerNames({ class_name, config }) as KerasObjectSerialization;
  if (!isModelSerialization(entry)) {
    throw new FacetrainError('FT_ERR_UNSUPPORTED', `Cannot export model "${model.name}" of class ${class_name} to Keras .h5; export a Functional or Sequential model`);
  }
  return withKerasTrainableFlags(model, entry, model.trainable);
}
