import sharp from 'sharp';
import { THUMBNAIL_SIZE, type ClusterEmbedder } from '../cluster/types.js';
import type { BaseName } from '../config.js';
import { loadFaceDetector } from '../faces/detect.js';
import type { RgbImage } from '../image/decode.js';
import { loadEmbeddingBase } from '../recognize/embedding-base.js';
import type { Runtime } from '../runtime/runtime.js';
import { initEngine } from '../tfjs/backend.js';

/**
 * The base `cluster` embeds with unless told: MobileFaceNet, the better verifier (98.4 % on the
 * LFW pairs against FaceRes's ~95 %), as `verify` uses.
 */
export const CLUSTER_BASE: BaseName = 'mobilefacenet';

async function thumbnailOf(face: RgbImage): Promise<Uint8Array> {
  const jpeg = await sharp(face.data, { raw: { width: face.width, height: face.height, channels: 3 } })
    .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
    .jpeg({ quality: 80 })
    .toBuffer();
  return new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
}

/**
 * BlazeFace, then the embedding base `baseName` with its own alignment (loadEmbeddingBase: the
 * ArcFace template for mobilefacenet, the eyes for faceres), on `runtime`; faces are grouped with
 * the base's verification thresholds.
 */
export async function loadClusterEmbedder(runtime: Runtime, baseName: BaseName = CLUSTER_BASE): Promise<ClusterEmbedder> {
  await initEngine();
  const base = await loadEmbeddingBase(baseName, runtime);
  const detector = await loadFaceDetector({}, runtime);
  const { embedder, row } = base;
  return {
    key: JSON.stringify({ base: baseName, detector: 'blazeface', align: row.template ?? 'eyes', size: embedder.inputSize }),
    base: baseName,
    dims: embedder.dims,
    linkSimilarity: row.strictVerifyThreshold,
    joinSimilarity: row.verifyThreshold,
    async embedFaces(image) {
      const faces = await detector.detect(image);
      if (faces.length === 0) return [];
      const crops = await Promise.all(faces.map((face) => base.align(image, face)));
      const embeddings = await embedder.embed(crops);
      return Promise.all(faces.map(async (face, i) => ({ box: face.box, landmarks: face.landmarks, embedding: embeddings[i]!, thumbnail: await thumbnailOf(crops[i]!) })));
    },
    dispose() {
      detector.dispose();
      base.dispose();
    },
  };
}
