import { openGallery } from '../gallery/open.js';
import type { EnrollCount, FaceTemplate } from '../gallery/store.js';
import { decodeVector, readGallery } from '../model-dir/gallery.js';
import { readManifest } from '../model-dir/manifest.js';
import type { Recognizer } from '../recognize/recognizer.js';
import { FacetrainError } from '../errors.js';
import { recognizeWithGallery, type GallerySession } from './gallery.js';

export interface TrainingEnrolment extends EnrollCount {
  people: number;
  location: string;
}

/**
 * Puts the training photos of a freshly trained model into a gallery: one template per photo of
 * the train split (the embedding training already made, unaugmented), each person in one
 * transaction. Photos already there (same person, same bytes) are not added twice.
 */
export async function enrollTrainingPhotos(modelDir: string, url: string): Promise<TrainingEnrolment> {
  const trained = await readGallery(modelDir);
  const entries = trained?.entries.filter((e) => e.split === 'train') ?? [];
  if (entries.length === 0) throw new FacetrainError('FT_ERR_UNSUPPORTED', `${modelDir}: this model keeps no face embeddings of its training photos; a gallery needs a face-embedding base`);
  const byPerson = new Map<string, FaceTemplate[]>();
  for (const e of entries) {
    const templates = byPerson.get(e.person) ?? [];
    templates.push({ photoHash: e.hash, file: e.file, embedding: decodeVector(e.views[0]!) });
    byPerson.set(e.person, templates);
  }
  const store = await openGallery(url, decodeVector(entries[0]!.views[0]!).length, modelDir);
  try {
    const total = { added: 0, alreadyKnown: 0 };
    for (const [person, templates] of byPerson) {
      const count = await store.enroll(person, templates);
      total.added += count.added;
      total.alreadyKnown += count.alreadyKnown;
    }
    return { ...total, people: byPerson.size, location: store.location };
  } finally {
    await store.close();
  }
}

/**
 * A recognizer that names faces by their nearest templates in the session's gallery, with the
 * model directory's manifest (its base and crop), the gallery's people as labels and the gallery
 * threshold: what `eval` measures when given a gallery.
 */
export async function galleryRecognizer(session: GallerySession, modelDir: string): Promise<Recognizer> {
  const manifest = await readManifest(modelDir);
  const labels = (await session.store.people()).map((p) => p.name);
  return {
    manifest: { ...manifest, labels, threshold: session.faces.matchThreshold },
    labels,
    predict: (image, options = {}) => recognizeWithGallery(session.store, session.faces, image, options.label ?? 'image', options),
    dispose: () => {},
  };
}
