import sharp from 'sharp';
import { BASE_ROWS } from '../base/index.js';
import { THUMBNAIL_SIZE, type ClusterEmbedder } from '../cluster/types.js';
import { TRAIN_DEFAULTS, type BaseName } from '../config.js';
import { FacetrainError } from '../errors.js';
import type { RgbImage } from '../image/decode.js';
import { facePipelineOn } from '../recognize/face-pipeline.js';
import type { Runtime } from '../runtime/runtime.js';
import { initEngine } from '../tfjs/backend.js';

async function thumbnailOf(face: RgbImage): Promise<Uint8Array> {
  const jpeg = await sharp(face.data, { raw: { width: face.width, height: face.height, channels: 3 } })
    .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
    .jpeg({ quality: 80 })
    .toBuffer();
  return new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
}

/**
 * The project's face pipeline (recognize/face-pipeline.ts) for `baseName` (the default base unless
 * told) on `runtime`, as `train` uses it: detected, aligned the way the base wants, embedded;
 * faces are grouped at the row's same-person similarity.
 */
export async function loadClusterEmbedder(runtime: Runtime, baseName: BaseName = TRAIN_DEFAULTS.base): Promise<ClusterEmbedder> {
  const base = BASE_ROWS[baseName];
  if (base.kind !== 'embedding') {
    throw new FacetrainError('FT_ERR_UNSUPPORTED', `cluster needs a face-embedding base; ${baseName} classifies whole photos`);
  }
  await initEngine();
  const pipeline = await facePipelineOn(runtime, base);
  return {
    key: JSON.stringify({ base: baseName, detector: 'blazeface', input: pipeline.input }),
    sameThreshold: base.samePersonSimilarity ?? base.verifyThreshold,
    async embedFaces(image) {
      const faces = await pipeline.embedFaces(image);
      return Promise.all(faces.map(async ({ face, crop, embedding }) => ({ box: face.box, landmarks: face.landmarks, embedding, thumbnail: await thumbnailOf(crop) })));
    },
    dispose: () => pipeline.dispose(),
  };
}
