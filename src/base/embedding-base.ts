import { alignFace } from '../faces/align.js';
import type { DetectedFace, FaceDetector } from '../faces/detect.js';
import { alignToTemplate } from '../faces/template-align.js';
import type { RgbImage } from '../image/decode.js';
import { runtimeFor, type EngineName } from '../engine/onnxruntime.js';
import { loadFaceEmbedder } from '../recognize/onnx-engine.js';
import { FacetrainError } from '../util/errors.js';
import { DEFAULT_UNKNOWN_RULE, leaveOnePersonOutScores, strangerThreshold, type PersonGallery } from '../evaluate/unknown-rule.js';
import type { FaceEmbedder } from './faceres.js';
import { loadMobileFaceNet } from './mobilefacenet/mobilefacenet.js';

export const EMBEDDING_BASES = Object.freeze(['mobilefacenet', 'faceres'] as const);
export type EmbeddingBaseName = (typeof EMBEDDING_BASES)[number];
export const DEFAULT_EMBEDDING_BASE: EmbeddingBaseName = 'mobilefacenet';

/**
 * Cosine similarity at or above which two faces are called the same person by `verify`: the
 * threshold with the best accuracy over all LFW pairs in ../shared (`npm run accuracy` prints it).
 */
export const VERIFY_THRESHOLDS: Readonly<Record<EmbeddingBaseName, number>> = Object.freeze({ mobilefacenet: 0.426, faceres: 0.524 });

/**
 * The lowest unknown threshold of each base: a user's handful of people cannot show the 1 % tail of
 * stranger scores, so the threshold from simulated strangers is never set below this floor, set
 * once per base on the shared sets (`npm run accuracy`). mobilefacenet: 0.55, the lowest that kept
 * bbt's look-alike strangers out (its LFW 0.1 % false-accept threshold, 0.467, let 3 of 10 in);
 * faceres: its LFW 0.1 % false-accept threshold.
 */
export const UNKNOWN_FLOORS: Readonly<Record<EmbeddingBaseName, number>> = Object.freeze({ mobilefacenet: 0.55, faceres: 0.641 });

/** The unknown threshold of a model: simulated strangers (each known person left out in turn) at `targetFar`, not below the base's floor. */
export function unknownThreshold(galleries: PersonGallery[], base: EmbeddingBaseName, targetFar: number): number {
  const usable = galleries.filter((g) => g.embeddings.length > 0);
  const simulated = usable.length >= 2 ? leaveOnePersonOutScores(usable, DEFAULT_UNKNOWN_RULE) : [];
  return Math.min(1, strangerThreshold(simulated, targetFar, UNKNOWN_FLOORS[base]));
}

/** A face-embedding network with the alignment it was trained on: a detected face in, one unit vector out. */
export interface EmbeddingBase {
  readonly name: EmbeddingBaseName;
  readonly embedder: FaceEmbedder;
  /** The aligned crop this base embeds. */
  align(image: RgbImage, face: DetectedFace): Promise<RgbImage>;
  dispose(): void;
}

export function isEmbeddingBase(name: string): name is EmbeddingBaseName {
  return (EMBEDDING_BASES as readonly string[]).includes(name);
}

export async function loadEmbeddingBase(name: EmbeddingBaseName = DEFAULT_EMBEDDING_BASE, engine?: EngineName): Promise<EmbeddingBase> {
  if (name === 'faceres') {
    const embedder = await loadFaceEmbedder(engine);
    return { name, embedder, align: (image, face) => alignFace(image, face, embedder.inputSize), dispose: () => embedder.dispose() };
  }
  const ort = await runtimeFor(engine);
  if (!ort) throw new FacetrainError('FT_ERR_UNSUPPORTED', `base ${name} runs on onnxruntime only (engine: ${engine ?? 'onnxruntime-node did not load'}); use --base faceres or reinstall onnxruntime-node`);
  const embedder = await loadMobileFaceNet(ort);
  return { name, embedder, align: async (image, face) => alignToTemplate(image, face, embedder.inputSize), dispose: () => embedder.dispose() };
}

/** The embedding of the largest face in `image`, or undefined when no face is found. */
export async function embedLargestFace(base: EmbeddingBase, detector: FaceDetector, image: RgbImage): Promise<{ embedding: Float32Array; face: DetectedFace } | undefined> {
  const [face] = await detector.detect(image);
  if (!face) return undefined;
  const [embedding] = await base.embedder.embed([await base.align(image, face)]);
  return { embedding: embedding!, face };
}
