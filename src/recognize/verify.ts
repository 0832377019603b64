import { TRAIN_DEFAULTS } from '../base/index.js';
import { checkRange, SIMILARITY_RANGE, type BaseName } from '../config.js';
import { FacetrainError } from '../errors.js';
import { decodeImage, type DecodeOptions, type RgbImage } from '../image/decode.js';
import { chooseRuntime } from '../runtime/choose.js';
import type { RuntimeName } from '../runtime/runtime.js';
import { cosine } from '../util/vector.js';
import { embeddingRow } from './embedding-base.js';
import { facePipelineOn } from './face-pipeline.js';

/** `verify`'s base: the training default, the best verifier on LFW pairs (see the README's accuracy section). */
export const DEFAULT_VERIFY_BASE: BaseName = TRAIN_DEFAULTS.base;

/** 1:1 verification of two photos' largest faces. */
export interface VerifyResult {
  /** similarity >= threshold */
  same: boolean;
  /** Cosine similarity of the two face embeddings, in [-1, 1]. */
  similarity: number;
  threshold: number;
}

export interface VerifyOptions extends DecodeOptions {
  /** Embedding base; default `DEFAULT_VERIFY_BASE`. */
  base?: BaseName;
  engine?: RuntimeName;
  /** Similarity at or above which the faces are the same person; default the base's, calibrated on LFW pairs. */
  threshold?: number;
}

export interface Verifier {
  readonly base: BaseName;
  readonly threshold: number;
  /** `labelA`/`labelB` name the photos in errors (e.g. their file names). */
  verify(a: Uint8Array | RgbImage, b: Uint8Array | RgbImage, labels?: [string, string]): Promise<VerifyResult>;
  dispose(): void;
}

const isImage = (x: Uint8Array | RgbImage): x is RgbImage => !(x instanceof Uint8Array);

export async function loadVerifier(options: VerifyOptions = {}): Promise<Verifier> {
  const name = options.base ?? DEFAULT_VERIFY_BASE;
  const threshold = options.threshold ?? embeddingRow(name).verifyThreshold;
  checkRange('threshold', threshold, SIMILARITY_RANGE);
  const runtime = await chooseRuntime(options.engine);
  const pipeline = await facePipelineOn(runtime, embeddingRow(name));
  async function embed(input: Uint8Array | RgbImage, label: string): Promise<Float32Array> {
    const image = isImage(input) ? input : await decodeImage(input, label, options);
    const found = await pipeline.embedLargestFace(image);
    if (!found) throw new FacetrainError('FT_ERR_IMAGE', `${label}: no face found; use a photo where the face is visible`);
    return found.embedding;
  }
  return {
    base: name,
    threshold,
    async verify(a, b, [labelA, labelB] = ['photo a', 'photo b']) {
      const [ea, eb] = [await embed(a, labelA), await embed(b, labelB)];
      const similarity = cosine(ea, eb);
      return { same: similarity >= threshold, similarity, threshold };
    },
    dispose: () => pipeline.dispose(),
  };
}

/** Are the largest faces of two photos the same person? Loads the networks for one comparison; keep a `loadVerifier()` for many. */
export async function verify(a: Uint8Array | RgbImage, b: Uint8Array | RgbImage, options: VerifyOptions = {}): Promise<VerifyResult> {
  const verifier = await loadVerifier(options);
  try {
    return await verifier.verify(a, b);
  } finally {
    verifier.dispose();
  }
}
