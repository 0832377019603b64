import type { EngineName } from '../engine/onnxruntime.js';
import { readManifest } from '../model/manifest.js';
import { galleryInputOf, loadFacePipeline, type FaceEmbeddingPipeline } from './faces.js';
import { openGallery } from './open.js';
import type { ArchiveIndex, GalleryStore } from './store.js';

export interface GallerySession {
  store: GalleryStore & Partial<ArchiveIndex>;
  faces: FaceEmbeddingPipeline;
  close(): Promise<void>;
}

/**
 * The face pipeline and the gallery a command works on: the model directory (when given) says how
 * faces are cropped and embedded, the URL where the templates are.
 */
export async function openGallerySession(url: string, options: { modelDir?: string; engine?: EngineName } = {}): Promise<GallerySession> {
  const input = options.modelDir ? galleryInputOf(await readManifest(options.modelDir), options.modelDir) : undefined;
  const faces = await loadFacePipeline(input, options.engine);
  try {
    const store = await openGallery(url, faces.dims, options.modelDir);
    return {
      store,
      faces,
      close: async () => {
        faces.dispose();
        await store.close();
      },
    };
  } catch (err) {
    faces.dispose();
    throw err;
  }
}

/** Runs `work` on a gallery session and closes it whatever happens. */
export async function withGallery<T>(url: string, options: { modelDir?: string; engine?: EngineName }, work: (session: GallerySession) => Promise<T>): Promise<T> {
  const session = await openGallerySession(url, options);
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}
