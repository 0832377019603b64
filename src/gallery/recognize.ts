import type { SkippedPhoto } from '../events.js';
import { hashBytes } from '../model/gallery.js';
import type { FaceResult, PredictOptions } from '../recognize/recognizer.js';
import { FacetrainError } from '../util/errors.js';
import type { FaceEmbeddingPipeline } from './faces.js';
import { DEFAULT_GALLERY_THRESHOLD, matchNeighbours } from './match.js';
import type { EnrollCount, GalleryStore } from './store.js';

export interface GalleryPhoto {
  file: string;
  bytes: Uint8Array;
}

/** Templates fetched per face: enough for a top-k of different people when a person has many photos. */
const NEIGHBOURS_PER_FACE = 50;

/** Adds one template per photo (its largest face) to `person`, in one transaction. */
export async function enrollInGallery(store: GalleryStore, faces: FaceEmbeddingPipeline, person: string, photos: GalleryPhoto[]): Promise<EnrollCount & { skipped: SkippedPhoto[] }> {
  const skipped: SkippedPhoto[] = [];
  const templates = [];
  for (const photo of photos) {
    try {
      const [largest] = await faces.embedFaces(photo.bytes, photo.file);
      if (largest) templates.push({ photoHash: hashBytes(photo.bytes), file: photo.file, embedding: largest.embedding });
      else skipped.push({ file: photo.file, reason: 'no face found' });
    } catch (err) {
      if (!(err instanceof FacetrainError)) throw err;
      skipped.push({ file: photo.file, reason: err.message });
    }
  }
  if (templates.length === 0) {
    throw new FacetrainError('FT_ERR_IMAGE', `no usable photo of ${person}${skipped[0] ? ` (${skipped[0].file}: ${skipped[0].reason})` : ''}; add photos that show the face clearly`);
  }
  return { ...(await store.enroll(person, templates)), skipped };
}

/** Removes a person and every template of theirs; an unknown name is an error naming the gallery. */
export async function forgetInGallery(store: GalleryStore, person: string): Promise<void> {
  if (await store.forget(person)) return;
  const known = (await store.people()).map((p) => p.name);
  throw new FacetrainError('FT_ERR_DATASET', `${store.location}: no person named ${person}; known: ${known.slice(0, 20).join(', ') || 'nobody yet'}${known.length > 20 ? ', ...' : ''}`);
}

/** Every face in the photo, named by its nearest templates. */
export async function recognizeWithGallery(store: GalleryStore, faces: FaceEmbeddingPipeline, image: Uint8Array, label: string, options: PredictOptions = {}): Promise<FaceResult[]> {
  const found = await faces.embedFaces(image, label);
  const kept = options.maxFaces ? found.slice(0, options.maxFaces) : found;
  const threshold = options.threshold ?? DEFAULT_GALLERY_THRESHOLD;
  return Promise.all(
    kept.map(async (face) => {
      const match = matchNeighbours(await store.nearest(face.embedding, NEIGHBOURS_PER_FACE), threshold, options.topK ?? 3);
      return { box: face.box, landmarks: face.landmarks, label: match.label, score: match.score, topK: match.candidates };
    }),
  );
}
