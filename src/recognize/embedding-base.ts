import { BASE_ROWS } from '../base/index.js';
import type { EmbeddingBaseRow } from '../base/row.js';
import { BASES, type BaseName } from '../config.js';
import { DEFAULT_UNKNOWN_RULE, leaveOnePersonOutScores, strangerThreshold, type PersonGallery } from '../evaluate/unknown-rule.js';
import { FacetrainError } from '../errors.js';
import { alignFace } from '../faces/align.js';
import type { DetectedFace, FaceDetector } from '../faces/detect.js';
import type { FaceEmbedder } from '../faces/embedder.js';
import { alignToTemplate } from '../faces/template-align.js';
import type { RgbImage } from '../image/decode.js';
import type { Runtime } from '../runtime/runtime.js';
import { embedderOn } from './onnx-engine.js';

/** The bases whose row is a face-embedding network (the ones `verify` and the unknown rule work with). */
export const EMBEDDING_BASES: readonly BaseName[] = Object.freeze(BASES.filter((name) => BASE_ROWS[name].kind === 'embedding'));

export function isEmbeddingBase(name: string): name is BaseName {
  return (EMBEDDING_BASES as readonly string[]).includes(name);
}

/** The row of an embedding base; a classifier base is a user error naming the choices. */
export function embeddingRow(name: BaseName): EmbeddingBaseRow {
  const row = BASE_ROWS[name];
  if (row.kind !== 'embedding') throw new FacetrainError('FT_ERR_UNSUPPORTED', `base ${name} does not embed faces; use ${EMBEDDING_BASES.join(' or ')}`);
  return row;
}

/** A base's embedder on `runtime`. */
export async function rowEmbedderOn(runtime: Runtime, row: EmbeddingBaseRow): Promise<FaceEmbedder> {
  return embedderOn(runtime, await row.loadEmbedder(runtime));
}

/** The unknown threshold of a model: simulated strangers (each known person left out in turn) at `targetFar`, not below the base's floor. */
export function unknownThreshold(galleries: PersonGallery[], row: EmbeddingBaseRow, targetFar: number): number {
  const usable = galleries.filter((g) => g.embeddings.length > 0);
  const simulated = usable.length >= 2 ? leaveOnePersonOutScores(usable, DEFAULT_UNKNOWN_RULE) : [];
  return Math.min(1, strangerThreshold(simulated, targetFar, row.unknownFloor));
}

/** A face-embedding network with the alignment it was trained on: a detected face in, one unit vector out. */
export interface EmbeddingBase {
  readonly name: BaseName;
  readonly row: EmbeddingBaseRow;
  readonly embedder: FaceEmbedder;
  /** The aligned crop this base embeds. */
  align(image: RgbImage, face: DetectedFace): Promise<RgbImage>;
  dispose(): void;
}

export async function loadEmbeddingBase(name: BaseName, runtime: Runtime): Promise<EmbeddingBase> {
  const row = embeddingRow(name);
  const embedder = await rowEmbedderOn(runtime, row);
  const align = row.template === 'arcface-112'
    ? async (image: RgbImage, face: DetectedFace) => alignToTemplate(image, face, embedder.inputSize)
    : (image: RgbImage, face: DetectedFace) => alignFace(image, face, embedder.inputSize);
  return { name, row, embedder, align, dispose: () => embedder.dispose() };
}

/** The embedding of the largest face in `image`, or undefined when no face is found. */
export async function embedLargestFace(base: EmbeddingBase, detector: FaceDetector, image: RgbImage): Promise<{ embedding: Float32Array; face: DetectedFace } | undefined> {
  const [face] = await detector.detect(image);
  if (!face) return undefined;
  const [embedding] = await base.embedder.embed([await base.align(image, face)]);
  return { embedding: embedding!, face };
}
