import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Box, Point } from '../faces/geometry.js';
import { decodeVector, encodeVector } from '../model-dir/gallery.js';
import type { EmbeddedFace } from './types.js';

/** Hidden, so `facetrain train <dir>` does not take it for a person. */
export const CACHE_DIR = '.facetrain-cluster';
export const CACHE_FILE = 'faces.json';

interface StoredFace {
  box: Box;
  landmarks: Point[];
  /** base64 of the float32 unit vector. */
  embedding: string;
  /** base64 JPEG. */
  thumbnail: string;
}

/**
 * Faces of every photo clustered into a folder, keyed by the SHA-256 of the photo's bytes, so a
 * re-run embeds only new or changed photos. Embeddings and face thumbnails are personal data: this
 * file lives only inside the output folder.
 */
interface StoredCache {
  version: 1;
  embedderKey: string;
  photos: Record<string, StoredFace[]>;
}

export type FaceCache = Map<string, EmbeddedFace[]>;

function toStored(face: EmbeddedFace): StoredFace {
  return { box: face.box, landmarks: face.landmarks, embedding: encodeVector(face.embedding), thumbnail: Buffer.from(face.thumbnail).toString('base64') };
}

function fromStored(face: StoredFace): EmbeddedFace {
  return { box: face.box, landmarks: face.landmarks, embedding: decodeVector(face.embedding), thumbnail: new Uint8Array(Buffer.from(face.thumbnail, 'base64')) };
}

/** The cache of an earlier run into `outDir`; empty when there is none, it is unreadable, or it was made by another embedder. */
export async function readFaceCache(outDir: string, embedderKey: string): Promise<FaceCache> {
  try {
    const stored = JSON.parse(await readFile(path.join(outDir, CACHE_DIR, CACHE_FILE), 'utf8')) as StoredCache;
    if (stored.version !== 1 || stored.embedderKey !== embedderKey) return new Map();
    return new Map(Object.entries(stored.photos).map(([hash, faces]) => [hash, faces.map(fromStored)]));
  } catch {
    // a missing or damaged cache only costs time: the photos are embedded again
    return new Map();
  }
}

export function serializeFaceCache(cache: FaceCache, embedderKey: string): string {
  const stored: StoredCache = { version: 1, embedderKey, photos: Object.fromEntries([...cache].map(([hash, faces]) => [hash, faces.map(toStored)])) };
  return JSON.stringify(stored);
}
