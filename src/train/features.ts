import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { createInferencePool, modelArtifacts } from '../engine/pool.js';
import { MOBILENET_V2_NORMALIZATION } from '../base/mobilenetv2.js';
import type { RgbImage } from '../image/decode.js';
import { normalisedPixels } from '../image/normalise.js';

/** MobileNetV2's own preprocessing: pixels to [-1, 1] (the tutorial's rescale to [0, 1] is wrong for this base). */
function mobileNetInputData(images: RgbImage[]): Float32Array {
  return normalisedPixels(images, MOBILENET_V2_NORMALIZATION.mean, MOBILENET_V2_NORMALIZATION.std);
}

export function toMobileNetInput(images: RgbImage[]): tf.Tensor4D {
  const { width, height } = images[0]!;
  return tf.tensor4d(mobileNetInputData(images), [images.length, height, width, 3]);
}

/**
 * Runs the frozen part once per image, split across worker threads (one wasm backend per core),
 * and keeps every output concatenated on the first axis: the cache that training epochs read
 * instead of recomputing frozen layers.
 */
export async function computeFrozenOutputs(frozen: tfl.LayersModel, images: RgbImage[], batchSize: number, onProgress?: (done: number) => void): Promise<tf.Tensor[]> {
  const pool = await createInferencePool(await modelArtifacts(frozen));
  const outputShapes = frozen.outputs.map((o) => o.shape.slice(1) as number[]);
  const outputSizes = outputShapes.map((s) => s.reduce((a, b) => a * b, 1));
  const results = outputSizes.map((n) => new Float32Array(n * images.length));
  const step = batchSize * pool.workers;
  try {
    for (let start = 0; start < images.length; start += step) {
      const batch = images.slice(start, start + step);
      const { width, height } = batch[0]!;
      const outputs = await pool.predict(mobileNetInputData(batch), [batch.length, height, width, 3]);
      outputs.forEach((out, k) => results[k]!.set(out, start * outputSizes[k]!));
      onProgress?.(start + batch.length);
    }
  } finally {
    await pool.dispose();
  }
  return results.map((data, k) => tf.tensor(data, [images.length, ...outputShapes[k]!]));
}
