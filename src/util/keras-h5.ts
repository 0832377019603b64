import { open } from 'node:fs/promises';
import path from 'node:path';
import type { Dataset, Group, File as H5File } from 'h5wasm';
import { FacetrainError } from '../errors.js';

/**
 * The one HDF5 reader: the signature, the attribute layouts Keras writes and its weights; the
 * MobileNetV2 base reads ImageNet weights through it, the Keras exporter's loader (export/keras/)
 * reads whole models.
 */

/** One weight array as Keras stored it; `name` is Keras' variable name, e.g. `Conv1/kernel:0`. */
export interface KerasWeight {
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface KerasLayerWeights {
  layer: string;
  weights: KerasWeight[];
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** True when the bytes start with the HDF5 superblock signature (Keras always writes it at offset 0). */
export function isHdf5(bytes: Uint8Array): boolean {
  return bytes.length >= HDF5_SIGNATURE.length && HDF5_SIGNATURE.equals(bytes.subarray(0, HDF5_SIGNATURE.length));
}

/** HDF5 puts its signature at 0, or after a user block at 512, 1024, 2048, ... bytes. */
export async function hasHdf5Signature(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const probe = Buffer.alloc(HDF5_SIGNATURE.length);
    for (let offset = 0; offset + probe.length <= size; offset = offset === 0 ? 512 : offset * 2) {
      await handle.read(probe, 0, probe.length, offset);
      if (probe.equals(HDF5_SIGNATURE)) return true;
    }
    return false;
  } finally {
    await handle.close();
  }
}

type H5 = typeof import('h5wasm').default;
let h5wasmReady: Promise<H5> | undefined;

/** h5wasm's wasm module is only loaded by the commands that touch .h5 files. */
export function loadH5wasm(): Promise<H5> {
  h5wasmReady ??= (async () => {
    const { default: h5wasm } = await import('h5wasm/node');
    await h5wasm.ready;
    return h5wasm;
  })();
  return h5wasmReady;
}

async function readHead(file: string): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    throw new FacetrainError('FT_ERR_WEIGHTS', `${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the weights path`, { cause: err, options: ['weights'] });
  }
  try {
    const head = new Uint8Array(HDF5_SIGNATURE.length);
    await handle.read(head, 0, head.length, 0);
    return head;
  } finally {
    await handle.close();
  }
}

type AttrOwner = Group | Dataset;

/** An attribute's strings: a string, a list of strings or byte strings; Keras' empty list is an empty float array. */
function toStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value instanceof Uint8Array) return [new TextDecoder().decode(value)];
  if (ArrayBuffer.isView(value)) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) => (item instanceof Uint8Array ? new TextDecoder().decode(item) : String(item)));
}

/** A name list as Keras writes it: split into `name0`, `name1`, ... past 64 KB (HDF5 object header limit); undefined when absent. */
export function readNameListAttr(owner: AttrOwner, name: string): string[] | undefined {
  const attrs = owner.attrs;
  if (name in attrs) return toStrings(attrs[name].value);
  if (!(`${name}0` in attrs)) return undefined;
  const chunks: string[] = [];
  for (let i = 0; `${name}${i}` in attrs; i++) chunks.push(...toStrings(attrs[`${name}${i}`].value));
  return chunks;
}

/** A scalar string attribute, or undefined when absent. */
export function readStringAttr(owner: AttrOwner, name: string): string | undefined {
  const attrs = owner.attrs;
  if (!(name in attrs)) return undefined;
  const value = attrs[name].value;
  return typeof value === 'string' ? value : undefined;
}

/** A weight dataset's values as float32. */
export function readFloat32(dataset: Dataset, where: string, file: string): Float32Array {
  const value = dataset.value;
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array) return Float32Array.from(value);
  throw new FacetrainError('FT_ERR_UNSUPPORTED', `${file}: weight ${where} is not float32 or float64; re-save the weights as float32 from Keras`);
}

/** Opens an HDF5 file for reading (after the caller checked its signature); NODERAWFS reads the real path. */
export async function openH5ForReading(file: string): Promise<H5File> {
  const h5wasm = await loadH5wasm();
  // an absolute path keeps it independent of the wasm cwd
  return new h5wasm.File(path.resolve(file), 'r');
}

/**
 * Reads every layer's weights from a Keras 2 HDF5 file, in the file's layer order: either a
 * weights file (`save_weights`, `layer_names` on the root) or a whole model (`model.save`, weights
 * under `/model_weights`). Layout: attribute `layer_names`; per layer a group with attribute
 * `weight_names`; each weight a dataset at `<layer>/<weight name>` (e.g. `Conv1/Conv1/kernel:0`).
 * @throws FacetrainError FT_ERR_WEIGHTS naming the file when it is unreadable or not in that layout.
 */
export async function readKerasH5Weights(file: string): Promise<KerasLayerWeights[]> {
  if (!isHdf5(await readHead(file))) {
    throw new FacetrainError('FT_ERR_WEIGHTS', `${file} is not an HDF5 file; pass a Keras .h5 weights file or a TF.js model directory`);
  }
  const h5 = await openH5ForReading(file);
  if (h5.file_id < 0n) throw new FacetrainError('FT_ERR_WEIGHTS', `${file}: HDF5 library cannot open it (truncated or corrupt?); download it again`);
  try {
    const root = h5.keys().includes('model_weights') ? (h5.get('model_weights') as Group) : h5;
    const layerNames = readNameListAttr(root, 'layer_names');
    if (!layerNames) {
      throw new FacetrainError('FT_ERR_WEIGHTS', `${file} is HDF5 but has no Keras 'layer_names' attribute (Keras 3 .weights.h5 is not supported); save it with Keras 2 model.save_weights('x.h5') or pass a TF.js model directory`);
    }
    return layerNames.map((layer) => {
      const group = root.get(layer) as Group | null;
      const weightNames = group ? (readNameListAttr(group, 'weight_names') ?? []) : [];
      const weights = weightNames.map((name) => {
        const dataset = group?.get(name) as Dataset | null;
        if (!dataset?.shape) throw new FacetrainError('FT_ERR_WEIGHTS', `${file}: layer ${layer} lists weight ${name} but has no such dataset; the file is damaged, download it again`);
        return { name, shape: dataset.shape, values: readFloat32(dataset, `${layer}/${name}`, file) };
      });
      return { layer, weights };
    });
  } finally {
    h5.close();
  }
}
