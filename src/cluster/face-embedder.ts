import sharp from 'sharp';
import { initEngine } from '../engine/backend.js';
import type { EngineName } from '../engine/onnxruntime.js';
import { alignFace, DEFAULT_ALIGN_CONFIG } from '../faces/align.js';
import { loadFaceDetector, type Box, type Point } from '../faces/detect.js';
import type { RgbImage } from '../image/decode.js';
import { loadFaceEmbedder } from '../recognize/onnx-engine.js';

/** One face found in a photo: where it is, its embedding and a small JPEG for the contact sheet. */
export interface EmbeddedFace {
  box: Box;
  landmarks: Point[];
  /** Unit-length vector: the cosine of two faces is their dot product. */
  embedding: Float32Array;
  /** JPEG of the aligned face, THUMBNAIL_SIZE pixels square. */
  thumbnail: Uint8Array;
}

/**
 * Everything clustering needs from the face-embedding base, in one place so that a new default base
 * is one new implementation of this interface: how faces are found and embedded, and the similarity
 * above which two faces are taken for the same person.
 */
export interface ClusterEmbedder {
  /** Names the base and its settings; cached embeddings made under another key are not reused. */
  readonly key: string;
  /** Cosine similarity at or above which two faces (or two groups, on average) are one person. */
  readonly sameThreshold: number;
  /** Every face in the photo, largest first. */
  embedFaces(image: RgbImage): Promise<EmbeddedFace[]>;
  dispose(): void;
}

export const THUMBNAIL_SIZE = 96;

/**
 * FaceRes cosine similarity that 99 % of different-person pairs stay below (a 1 % false-accept
 * rate, the verification family of thresholds), measured on the faces clustering is tested on:
 * bbt, five-celebrities, ORL s1-s10 and the LFW-pairs people with >= 4 photos, BlazeFace + the
 * default alignment (different people: median 0.37, 99th percentile 0.553; one person: median
 * 0.65, 5th percentile 0.44). FaceRes's two distributions overlap, so no threshold gives both
 * BCubed precision and recall >= 0.95: this one gives precision 0.97, recall 0.87.
 */
export const FACERES_SAME_PERSON_SIMILARITY = 0.55;

async function thumbnailOf(face: RgbImage): Promise<Uint8Array> {
  const jpeg = await sharp(face.data, { raw: { width: face.width, height: face.height, channels: 3 } })
    .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
    .jpeg({ quality: 80 })
    .toBuffer();
  return new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
}

/** The project's default pipeline, as `train` uses it: BlazeFace, eye alignment, FaceRes (on onnxruntime when installed). */
export async function loadDefaultClusterEmbedder(engine?: EngineName): Promise<ClusterEmbedder> {
  await initEngine();
  const detector = await loadFaceDetector();
  const embedder = await loadFaceEmbedder(engine);
  return {
    key: JSON.stringify({ base: 'faceres', detector: 'blazeface', align: DEFAULT_ALIGN_CONFIG, size: embedder.inputSize }),
    sameThreshold: FACERES_SAME_PERSON_SIMILARITY,
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
