import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine } from '../engine/backend.js';
import { fileSystemIO } from '../engine/model-io.js';
import { decodeImage, resizeSquare, type DecodeOptions, type RgbImage } from '../image/decode.js';
import { decide } from '../evaluate/metrics.js';
import { readManifest, type ModelManifest } from '../model/manifest.js';
import { toMobileNetInput } from '../train/features.js';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Candidate {
  label: string;
  score: number;
}

/** One recognized face (or the whole image, for models trained without detection). */
export interface FaceResult {
  box: Box;
  landmarks?: [number, number][];
  /** A known person's name, or `unknown` when the best score is under the threshold. */
  label: string;
  score: number;
  topK: Candidate[];
}

export interface PredictOptions {
  topK?: number;
  /** Overrides the calibrated threshold stored in facetrain.json. */
  threshold?: number;
}

export interface Recognizer {
  readonly manifest: ModelManifest;
  readonly labels: string[];
  predict(image: Uint8Array | RgbImage, options?: PredictOptions): Promise<FaceResult[]>;
  dispose(): void;
}

/** Best-first candidates from one probability row. */
export function rankScores(scores: ArrayLike<number>, labels: string[], topK: number): Candidate[] {
  return labels
    .map((label, i) => ({ label, score: scores[i] ?? 0 }))
    .sort((a, b) => b.score - a.score)
    .slice(0, Math.max(1, topK));
}

function isRgbImage(x: Uint8Array | RgbImage): x is RgbImage {
  return (x as RgbImage).width !== undefined && !(x instanceof Uint8Array);
}

/** A recognizer over an in-memory model, e.g. one just trained, before it is written. */
export function createRecognizer(manifest: ModelManifest, model: tfl.LayersModel, decodeOptions: DecodeOptions = {}): Recognizer {
  const { labels } = manifest;
  return {
    manifest,
    labels,
    async predict(input, options = {}) {
      const image = isRgbImage(input) ? input : await decodeImage(input, 'image', decodeOptions);
      const crop = await resizeSquare(image, manifest.input.size);
      const probs = tf.tidy(() => model.predict(toMobileNetInput([crop])) as tf.Tensor);
      const scores = await probs.data();
      probs.dispose();
      const topK = rankScores(scores, labels, options.topK ?? 3);
      const best = topK[0]!;
      const label = decide({ predicted: best.label, score: best.score }, options.threshold ?? manifest.threshold);
      return [{ box: { x: 0, y: 0, width: image.width, height: image.height }, label, score: best.score, topK }];
    },
    dispose: () => model.dispose(),
  };
}

/** Loads a model directory written by `facetrain train`. */
export async function loadRecognizer(dir: string, decodeOptions: DecodeOptions = {}): Promise<Recognizer> {
  await initEngine();
  const manifest = await readManifest(dir);
  return createRecognizer(manifest, await tfl.loadLayersModel(fileSystemIO(dir)), decodeOptions);
}
