import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { FaceEmbedder } from '../faces/embedder.js';
import { DEFAULT_UNKNOWN_RULE, personScore, type PersonGallery } from '../evaluate/unknown-rule.js';
import type { RgbImage } from '../image/decode.js';
import type { InputSpec } from '../faces/input-spec.js';
import { normalisedPixels } from '../image/normalise.js';
import type { Runtime } from '../runtime/runtime.js';

/** What a classifier says about one face crop. */
export interface Classification {
  /** Probabilities over the labels, in label order. */
  probs: Float32Array;
  /** The confidence compared with the unknown threshold, in [0, 1]. */
  score: number;
  /** The face's unit embedding, for a model that embeds faces. */
  embedding?: Float32Array;
}

/** Names aligned face crops (or whole images) of `inputSize` x `inputSize`. */
export interface FaceClassifier {
  readonly inputSize: number;
  classify(crops: RgbImage[]): Promise<Classification[]>;
  dispose(): void;
}

function argMax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Consecutive rows of `width` values, copied out of a flat batch result. */
export function splitRows(data: Float32Array, width: number): Float32Array[] {
  return Array.from({ length: data.length / width }, (_, i) => data.slice(i * width, (i + 1) * width));
}

/**
 * The classic recognizer: one Keras-style model from pixels to probabilities, run on `runtime`
 * (onnxruntime converts it to ONNX in memory when loaded); its top probability is the score.
 */
export async function classicClassifier(runtime: Runtime, model: tfl.LayersModel, { size, mean, std }: InputSpec): Promise<FaceClassifier> {
  const session = await runtime.layersModelSession(model);
  return {
    inputSize: size,
    async classify(crops): Promise<Classification[]> {
      if (crops.length === 0) return [];
      const [out] = await session.run(normalisedPixels(crops, mean, std), [crops.length, size, size, 3]);
      return splitRows(out!, out!.length / crops.length).map((probs) => ({ probs, score: Math.max(...probs) }));
    },
    dispose: () => {
      session.release();
      model.dispose();
    },
  };
}

export { cosine } from '../util/vector.js';

/**
 * Face embedding -> trained Dense head. The head names the person; the score is the unknown rule's
 * similarity of the face to that person's training photos: a softmax is confident about strangers
 * too, the distance to the person is not.
 */
export function embeddingClassifier(embedder: FaceEmbedder, head: tfl.LayersModel, galleries: PersonGallery[]): FaceClassifier {
  return {
    inputSize: embedder.inputSize,
    async classify(crops) {
      const embeddings = await embedder.embed(crops);
      return classifyEmbeddings(head, galleries, embeddings);
    },
    dispose: () => {
      embedder.dispose();
      head.dispose();
    },
  };
}

export async function classifyEmbeddings(head: tfl.LayersModel, galleries: PersonGallery[], embeddings: Float32Array[]): Promise<Classification[]> {
  if (embeddings.length === 0) return [];
  const dims = embeddings[0]!.length;
  const flat = new Float32Array(embeddings.length * dims);
  embeddings.forEach((e, i) => flat.set(e, i * dims));
  const out = tf.tidy(() => head.predict(tf.tensor2d(flat, [embeddings.length, dims])) as tf.Tensor2D);
  const probs = splitRows((await out.data()) as Float32Array, out.shape[1]);
  out.dispose();
  // a cosine below 0 is as unknown as 0: scores stay in [0, 1] like every other model's
  return probs.map((p, i) => ({ probs: p, score: Math.max(0, Math.min(1, personScore(embeddings[i]!, galleries[argMax(p)]!, DEFAULT_UNKNOWN_RULE))), embedding: embeddings[i]! }));
}
