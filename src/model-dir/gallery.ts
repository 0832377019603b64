import type { PersonGallery } from '../evaluate/unknown-rule.js';
import { sha256Hex } from '../util/hash.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { pathExists } from '../util/fs.js';
import { FacetrainError } from '../errors.js';
import { schemaErrors } from './schema-errors.js';

export const GALLERY_FILE = 'gallery.json';

/**
 * One photo's embeddings (every augmented view), keyed by the hash of the file's bytes so a
 * retrain embeds only new photos. Embeddings are personal data: they live only in the model directory.
 */
const FaceBoxSchema = Type.Object({ x: Type.Number(), y: Type.Number(), width: Type.Number(), height: Type.Number() });

/** A face's box in the photo's pixels. */
export type FaceBox = Static<typeof FaceBoxSchema>;

const GalleryEntrySchema = Type.Object({
  hash: Type.String(),
  person: Type.String(),
  /** The photo's file name, for reports; never its pixels. */
  file: Type.String(),
  split: Type.Union([Type.Literal('train'), Type.Literal('val')]),
  /** Faces the detector found in the photo (the largest was used). */
  faces: Type.Integer(),
  /** base64 of float32 unit vectors; view 0 is the photo itself. */
  views: Type.Array(Type.String()),
  /** Where the embedded face is, for validation photos (the report's thumbnails of its mistakes). */
  box: Type.Optional(FaceBoxSchema),
});

export type GalleryEntry = Static<typeof GalleryEntrySchema>;

/** gallery.json: one schema for the type and for the check on every read (as the manifest's). */
const GallerySchema = Type.Object({
  version: Type.Literal(1),
  /** Base, crop and augmentation settings the embeddings were made with; a change invalidates them. */
  recipeKey: Type.String(),
  entries: Type.Array(GalleryEntrySchema),
});

export type Gallery = Static<typeof GallerySchema>;

const checkGallery = TypeCompiler.Compile(GallerySchema);

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
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new FacetrainError('FT_ERR_MODEL', `${file}: cannot be read (${(err as Error).message}); retrain the model, replacing this one`, { cause: err, options: ['force'] });
  }
  if (!checkGallery.Check(json)) {
    throw new FacetrainError('FT_ERR_MODEL', `${file}: not a facetrain gallery (${schemaErrors(checkGallery, json)}); retrain the model, replacing this one`, { options: ['force'] });
  }
  return json;
}

/** Each person's training embeddings (the unaugmented view), in label order: what the unknown rule compares faces with. */
export function personGalleries(entries: GalleryEntry[], labels: string[]): PersonGallery[] {
  return labels.map((person) => ({ person, embeddings: entries.filter((e) => e.person === person && e.split === 'train').map((e) => decodeVector(e.views[0]!)) }));
}
