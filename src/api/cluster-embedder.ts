import sharp from 'sharp';
import { BASE_ROWS } from '../base/index.js';
import { THUMBNAIL_SIZE, type ClusterEmbedder } from '../cluster/types.js';
import { TRAIN_DEFAULTS, type BaseName } from '../config.js';
import { FacetrainError } from '../errors.js';
import { alignFace, DEFAULT_ALIGN_CONFIG } from '../faces/align.js';
import { loadFaceDetector } from '../faces/detect.js';
import type { RgbImage } from '../image/decode.js';
import { embedderOn } from '../recognize/onnx-engine.js';
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
 * The project's default pipeline, as `train` uses it: BlazeFace, eye alignment, and the embedder of
 * `baseName` (the default base unless told) from the BASES table, on `runtime`; faces are grouped
 * at the row's same-person similarity.
 */
export async function loadClusterEmbedder(runtime: Runtime, baseName: BaseName = TRAIN_DEFAULTS.base): Promise<ClusterEmbedder> {
  const base = BASE_ROWS[baseName];
  if (base.kind !== 'embedding') {
    throw new FacetrainError('FT_ERR_UNSUPPORTED', `cluster needs a face-embedding base; ${baseName} classifies whole photos`);
  }
  await initEngine();
  const detector = await loadFaceDetector({}, runtime);
  const embedder = await embedderOn(runtime, await base.loadEmbedder());
  return {
    key: JSON.stringify({ base: baseName, detector: 'blazeface', align: DEFAULT_ALIGN_CONFIG, size: embedder.inputSize }),
    sameThreshold: base.samePersonSimilarity ?? base.verifyThreshold,
    async embedFaces(image) {
      const faces = await detector.detect(image);
      if (faces.length === 0) return [];
      const crops = await Promise.all(faces.map((face) => alignFace(image, face, embedder.inputSize, DEFAULT_ALIGN_CONFIG)));
      const embeddings = await embedder.embed(crops);
      return Promise.all(faces.map(async (face, i) => ({ box: face.box, landmarks: face.landmarks, embedding: embeddings[i]!, thumbnail: await thumbnailOf(crops[i]!) })));
    },
    dispose() {
      detector.dispose();
      embedder.dispose();
    },
  };
}
