import h5wasm, { type Dataset, type Group, type File as H5File } from 'h5wasm/node';
import { HDF5_OBJECT_HEADER_LIMIT } from './format.js';

type AttrOwner = Group | Dataset;

/**
 * The HDF5 writer (the one reader is util/keras-h5.ts). h5wasm runs HDF5 in wasm with the host
 * file system mounted (NODERAWFS), so it writes real paths. Bounds ['earliest', 'v110'] are what h5py uses by default, so HDF5 1.10 readers
 * (the h5py that tf.keras 2.x installs) open the file.
 */
export async function createH5(file: string): Promise<H5File> {
  await h5wasm.ready;
  return new h5wasm.File(file, 'w', { libver: ['earliest', 'v110'] });
}

const utf8 = new TextEncoder();

/** numpy.array_split: `parts` runs whose lengths differ by at most one, longer ones first. */
function arraySplit<T>(items: T[], parts: number): T[][] {
  const base = Math.floor(items.length / parts);
  const extra = items.length % parts;
  const out: T[][] = [];
  for (let i = 0, start = 0; i < parts; i++) {
    const size = base + (i < extra ? 1 : 0);
    out.push(items.slice(start, start + size));
    start += size;
  }
  return out;
}

/**
 * Writes a list of names the way Keras' save_attributes_to_hdf5_group does: a fixed-length byte
 * string array (h5py returns numpy `S` bytes), chunked into `name0`, `name1`, ... past the object
 * header limit, and an empty float64 array for an empty list.
 */
export function writeNameListAttr(owner: AttrOwner, name: string, values: string[]): void {
  if (values.length === 0) {
    owner.create_attribute(name, new Float64Array(0), [0]);
    return;
  }
  // +1: h5wasm's only fixed-length ASCII type is NUL-terminated, which by the HDF5 spec needs room
  // for the NUL; numpy strips it, so h5py still returns the bare name.
  const itemSize = Math.max(...values.map((v) => utf8.encode(v).length)) + 1;
  let parts = 1;
  while (Math.ceil(values.length / parts) * itemSize > HDF5_OBJECT_HEADER_LIMIT) parts++;
  if (parts === 1) {
    owner.create_attribute(name, values, [values.length], `A${itemSize}`);
    return;
  }
  arraySplit(values, parts).forEach((chunk, i) => owner.create_attribute(`${name}${i}`, chunk, [chunk.length], `A${itemSize}`));
}
