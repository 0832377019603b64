import { alignFace, DEFAULT_ALIGN_CONFIG } from '../faces/align.js';
import { loadFaceDetector, type FaceDetector } from '../faces/detect.js';
import type { Box } from '../faces/geometry.js';
import { initEngine } from '../engine/backend.js';
import type { EngineName } from '../engine/onnxruntime.js';
import { decodeImage, type DecodeOptions, type RgbImage } from '../image/decode.js';
import type { InputSpec, ModelManifest } from '../model/manifest.js';
import { loadFaceEmbedder } from '../recognize/onnx-engine.js';
import type { FaceEmbedder } from '../base/faceres.js';
import { FacetrainError } from '../util/errors.js';

/** What `facetrain train` writes for the default base: FaceRes on aligned faces. */
export const DEFAULT_GALLERY_INPUT: InputSpec = Object.freeze({ size: 224, channels: 'RGB', mean: 0, std: 1, crop: 'aligned-face', align: { ...DEFAULT_ALIGN_CONFIG } });

export interface EmbeddedFace {
  box: Box;
  landmarks: [number, number][];
  embedding: Float32Array;
}

/** Detector + aligner + face embedder: photos in, one embedding per face out (largest face first). */
export interface FaceEmbeddingPipeline {
  readonly dims: number;
  embedFaces(image: Uint8Array | RgbImage, label: string): Promise<EmbeddedFace[]>;
  dispose(): void;
}

/** The input spec of a model directory's recognizer, refused when it does not embed aligned faces. */
export function galleryInputOf(manifest: ModelManifest, modelDir: string): InputSpec {
  if (manifest.base.name !== 'faceres' || manifest.input.crop !== 'aligned-face') {
    throw new FacetrainError('FT_ERR_UNSUPPORTED', `${modelDir}: a gallery needs a face-embedding model on aligned faces; retrain with --base faceres (without --no-detect)`);
  }
  return manifest.input;
}

export async function loadFacePipeline(input: InputSpec = DEFAULT_GALLERY_INPUT, engine?: EngineName, decodeOptions: DecodeOptions = {}): Promise<FaceEmbeddingPipeline> {
  await initEngine();
  const detector: FaceDetector = await loadFaceDetector();
  const embedder: FaceEmbedder = await loadFaceEmbedder(engine);
  return {
    dims: embedder.dims,
    async embedFaces(image, label) {
      const rgb = image instanceof Uint8Array ? await decodeImage(image, label, decodeOptions) : image;
      const faces = await detector.detect(rgb);
      if (faces.length === 0) return [];
      const crops = await Promise.all(faces.map((f) => alignFace(rgb, f, input.size, input.align)));
      const embeddings = await embedder.embed(crops);
      return faces.map((f, i) => ({ box: f.box, landmarks: f.landmarks, embedding: embeddings[i]! }));
    },
    dispose: () => {
      embedder.dispose();
      detector.dispose();
    },
  };
}
