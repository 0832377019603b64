/**
 * The Keras 2 HDF5 model format as `keras.saving.legacy.hdf5_format` writes it (h5py 3 string
 * conventions), kept apart from tfjs-layers' camelCase types. Only what facetrain writes and reads.
 */

/** Written as the file's `keras_version`; any "2.x" makes Keras skip its Keras-1 weight conversions. */
export const KERAS_VERSION = '2.15.0';
export const KERAS_BACKEND = 'tensorflow';

/** Root attributes of a Keras .h5 model file. */
export const ROOT_ATTRS = {
  modelConfig: 'model_config',
  kerasVersion: 'keras_version',
  backend: 'backend',
  /** facetrain's own: the person for each output unit; Keras ignores unknown attributes. */
  classNames: 'class_names',
} as const;

export const MODEL_WEIGHTS_GROUP = 'model_weights';
/** Keras >= 2.5 also saves weights owned by the model itself here; facetrain models have none. */
export const TOP_LEVEL_WEIGHTS_GROUP = 'top_level_model_weights';
export const LAYER_NAMES_ATTR = 'layer_names';
export const WEIGHT_NAMES_ATTR = 'weight_names';

/** Keras splits a string-list attribute into `name0`, `name1`, ... above this many bytes (HDF5 object header limit). */
export const HDF5_OBJECT_HEADER_LIMIT = 64512;

/** A Keras 2 variable name: `<layer>/<weight>:0`; its dataset lives at `model_weights/<top layer>/<layer>/<weight>:0`. */
export function kerasWeightName(layerScopedName: string): string {
  return `${layerScopedName}:0`;
}

/** `{class_name, config}` as Keras' `serialize_keras_object` writes it (snake_case keys). */
export interface KerasObjectSerialization {
  class_name: string;
  config: Record<string, unknown>;
}

/** One entry of a Functional or Sequential model's `config.layers`. */
export interface KerasLayerSerialization extends KerasObjectSerialization {
  /** Functional models only; Sequential entries are named in `config.name`. */
  name?: string;
  inbound_nodes?: unknown[];
}

export interface KerasModelSerialization extends KerasObjectSerialization {
  class_name: 'Functional' | 'Sequential' | 'Model';
  config: {
    name: string;
    layers: KerasLayerSerialization[];
    input_layers?: unknown[];
    output_layers?: unknown[];
    [key: string]: unknown;
  };
}

export function isModelSerialization(entry: KerasObjectSerialization): entry is KerasModelSerialization {
  return ['Functional', 'Sequential', 'Model'].includes(entry.class_name) && Array.isArray(entry.config.layers);
}

/**
 * Python's `json.dumps` default (ensure_ascii): Keras stores model_config as ASCII bytes,
 * so any non-ASCII character is written as a \uXXXX escape.
 */
export function toAsciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
