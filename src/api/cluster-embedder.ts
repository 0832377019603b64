import sharp from 'sharp';
import { THUMBNAIL_SIZE, type ClusterEmbedder } from '../cluster/types.js';
import type { BaseName } from '../config.js';
import type { RgbImage } from '../image/decode.js';
import { embeddingRow } from '../recognize/embedding-base.js';
import { facePipelineOn } from '../recognize/face-pipeline.js';
import type { Runtime } from '../runtime/runtime.js';
import { initEngine } from '../tfjs/backend.js';

/**
 * The base `cluster` embeds with unless told: MobileFaceNet, the better verifier (98.4 % or more on
 * the LFW pairs against FaceRes's ~95 %), as `verify` uses.
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
 * The project's face pipeline (recognize/face-pipeline.ts) for `baseName` on `runtime`: detected,
 * aligned the way the base wants, embedded; faces are grouped with the base's verification thresholds.
 */
export async function loadClusterEmbedder(runtime: Runtime, baseName: BaseName = CLUSTER_BASE): Promise<ClusterEmbedder> {
  const row = embeddingRow(baseName);
  await initEngine();
  const pipeline = await facePipelineOn(runtime, row);
  return {
    key: JSON.stringify({ base: baseName, detector: 'blazeface', input: pipeline.input }),
    base: baseName,
    dims: pipeline.embedder.dims,
    linkSimilarity: row.strictVerifyThreshold,
    joinSimilarity: row.verifyThreshold,
    ...(row.strangerSimilarity ? { strangerSimilarity: row.strangerSimilarity } : {}),
    async embedFaces(image) {
      const faces = await pipeline.embedFaces(image);
      return Promise.all(faces.map(async ({ face, crop, embedding }) => ({ box: face.box, landmarks: face.landmarks, embedding, thumbnail: await thumbnailOf(crop) })));
    },
    dispose: () => pipeline.dispose(),
  };
}
