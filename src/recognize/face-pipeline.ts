import type { EmbeddingBaseRow } from '../base/row.js';
import type { Cropper } from '../dataset/prepare.js';
import { DEFAULT_ALIGN_CONFIG } from '../faces/align.js';
import { cropperFor, loadFaceAligner, type FaceAligner } from '../faces/cropper.js';
import { loadFaceDetector, type DetectedFace, type FaceDetector } from '../faces/detect.js';
import type { FaceEmbedder } from '../faces/embedder.js';
import type { InputSpec } from '../faces/input-spec.js';
import type { RgbImage } from '../image/decode.js';
import type { Runtime } from '../runtime/runtime.js';
import { embedderOn } from './onnx-engine.js';

/** Side of the eye-aligned face of a base that names no size of its own (FaceRes). */
export const EYE_ALIGNED_SIZE = 224;

/** The input spec an embedding base is trained and searched with: its size and normalisation, aligned the way it wants. */
export function embeddingInputSpec(row: EmbeddingBaseRow): InputSpec {
  return {
    size: row.inputSize ?? EYE_ALIGNED_SIZE,
    channels: 'RGB',
    ...row.normalisation,
    crop: 'aligned-face',
    // a base aligned to a five-point template always detects (its network saw no other crops)
    ...(row.template ? { template: row.template, ...(row.landmarks ? { landmarks: row.landmarks } : {}) } : { align: { ...DEFAULT_ALIGN_CONFIG } }),
  };
}

/** A base's embedder on `runtime`. */
export async function rowEmbedderOn(runtime: Runtime, row: EmbeddingBaseRow): Promise<FaceEmbedder> {
  return embedderOn(runtime, await row.loadEmbedder(runtime));
}

/** One face found in a photo: where it is, the aligned crop the base saw (for thumbnails) and its unit embedding. */
export interface PipelineFace {
  face: DetectedFace;
  crop: RgbImage;
  embedding: Float32Array;
}

/**
 * Detect -> landmarks -> align -> embed for one embedding base on one runtime: the only place
 * faces are turned into embeddings (train, enroll, predict, the gallery, cluster, verify, the
 * accuracy bench), so every command aligns a base's faces the way that base wants.
 */
export interface FacePipeline {
  readonly row: EmbeddingBaseRow;
  readonly input: InputSpec;
  readonly detector: FaceDetector;
  readonly aligner: FaceAligner;
  readonly embedder: FaceEmbedder;
  /** Every face (largest first; at most `maxFaces` when given), embedded in one batch. */
  embedFaces(image: RgbImage, maxFaces?: number): Promise<PipelineFace[]>;
  /** The largest face, or undefined when none is found. */
  embedLargestFace(image: RgbImage): Promise<PipelineFace | undefined>;
  /** Training and enrolment crops: the largest face aligned (a photo without one is skipped), or the whole photo for a model trained without detection. */
  readonly cropper: Cropper;
  dispose(): void;
}

/** The pipeline of `row` on `runtime`, cropping as `input` says (a model directory's spec; default the base's own). */
export async function facePipelineOn(runtime: Runtime, row: EmbeddingBaseRow, input: InputSpec = embeddingInputSpec(row)): Promise<FacePipeline> {
  const detector = await loadFaceDetector({}, runtime);
  const aligner = await loadFaceAligner(input, runtime);
  const embedder = await rowEmbedderOn(runtime, row);
  async function embedFaces(image: RgbImage, maxFaces?: number): Promise<PipelineFace[]> {
    const faces = (await detector.detect(image)).slice(0, maxFaces && maxFaces > 0 ? maxFaces : undefined);
    if (faces.length === 0) return [];
    const crops = await Promise.all(faces.map((face) => aligner.align(image, face)));
    const embeddings = await embedder.embed(crops);
    return faces.map((face, i) => ({ face, crop: crops[i]!, embedding: embeddings[i]! }));
  }
  return {
    row,
    input,
    detector,
    aligner,
    embedder,
    embedFaces,
    embedLargestFace: async (image) => (await embedFaces(image, 1))[0],
    cropper: cropperFor(input, input.crop === 'aligned-face' ? detector : undefined, aligner),
    dispose() {
      embedder.dispose();
      aligner.dispose();
      detector.dispose();
    },
  };
}
