import { galleryEmbeddingOf, loadFacePipeline, type EmbeddedFace, type FaceEmbeddingPipeline } from '../api/gallery.js';
import { readManifest } from '../model-dir/manifest.js';
import type { RuntimeName } from '../runtime/runtime.js';

/** `embed`: one photo's faces as embeddings (for `serve --gallery`); `embed-load`: load the face pipeline and answer its length. */
export type GalleryEmbedRequest = { kind: 'embed'; bytes: Uint8Array; label: string } | { kind: 'embed-load' };

export interface GalleryEmbedReply {
  embedded?: EmbeddedFace[];
  dims?: number;
}

export function isGalleryEmbedRequest(request: { kind: string }): request is GalleryEmbedRequest {
  return request.kind === 'embed' || request.kind === 'embed-load';
}

/**
 * The gallery side of a recognition worker: the model directory's detector, aligner and embedder,
 * loaded on the first gallery request (a server without `--gallery` never loads them), so that
 * decoding and embedding a photo for the gallery happen in the worker, never on the event loop.
 */
export function galleryEmbedJobs(modelDir: string, maxPixels: number, runtime: RuntimeName) {
  let pipeline: Promise<FaceEmbeddingPipeline> | undefined;
  const loaded = (): Promise<FaceEmbeddingPipeline> =>
    (pipeline ??= readManifest(modelDir).then((manifest) => loadFacePipeline(galleryEmbeddingOf(manifest, modelDir), runtime, { maxPixels })));
  return {
    async handle(request: GalleryEmbedRequest): Promise<GalleryEmbedReply> {
      const faces = await loaded();
      if (request.kind === 'embed-load') return { dims: faces.dims };
      return { embedded: await faces.embedFaces(request.bytes, request.label) };
    },
    async dispose(): Promise<void> {
      (await pipeline?.catch(() => undefined))?.dispose();
    },
  };
}
