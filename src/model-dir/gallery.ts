import type { PersonGallery } from '../evaluate/unknown-rule.js';
import { sha256Hex } from '../util/hash.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathExists } from '../util/fs.js';
import { FacetrainError } from '../errors.js';

export const GALLERY_FILE = 'gallery.json';

/**
 * One photo's embeddings (every augmented view), keyed by the hash of the file's bytes so a
 * retrain embeds only new photos. Embeddings are personal data: they live only in the model directory.
 */
export interface GalleryEntry {
  hash: string;
  person: string;
  /** The photo's file name, for reports; never its pixels. */
  file: string;
  split: 'train' | 'val';
  /** Faces the detector found in the photo (the largest was used). */
  faces: number;
  /** base64 of float32 unit vectors; view 0 is the photo itself. */
  views: string[];
}

export interface Gallery {
  version: 1;
  /** Base, crop and augmentation settings the embeddings were made with; a change invalidates them. */
  recipeKey: string;
  entries: GalleryEntry[];
}

/** Photos are keyed by the SHA-256 of their bytes. */
export const hashBytes = sha256Hex;

export function encodeVector(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

export function decodeVector(s: string): Float32Array {
  const bytes = Buffer.from(s, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

export async function readGallery(dir: string): Promise<Gallery | undefined> {
  const file = path.join(dir, GALLERY_FILE);
  if (!(await pathExists(file))) return undefined;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Gallery;
  } catch (err) {
    throw new FacetrainError('FT_ERR_MODEL', `${file}: cannot be read (${(err as Error).message}); retrain the model, replacing this one`, { cause: err, options: ['force'] });
  }
}

/** Each person's training embeddings (the unaugmented view), in label order: what the unknown rule compares faces with. */
export function personGalleries(entries: GalleryEntry[], labels: string[]): PersonGallery[] {
  return labels.map((person) => ({ person, embeddings: entries.filter((e) => e.person === person && e.split === 'train').map((e) => decodeVector(e.views[0]!)) }));
}
