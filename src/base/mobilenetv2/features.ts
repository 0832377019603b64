import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { MOBILENET_V2_NORMALIZATION } from './mobilenetv2.js';
import type { Runtime } from '../../runtime/runtime.js';
import type { RgbImage } from '../../image/decode.js';
import { normalisedPixels } from '../../image/normalise.js';
import type { SharedTensor } from '../../train/replica.js';

/** MobileNetV2's own preprocessing: pixels to [-1, 1] (the tutorial's rescale to [0, 1] is wrong for this base). */
function mobileNetInputData(images: RgbImage[]): Float32Array {
  return normalisedPixels(images, MOBILENET_V2_NORMALIZATION.mean, MOBILENET_V2_NORMALIZATION.std);
}

export function toMobileNetInput(images: RgbImage[]): tf.Tensor4D {
  const { width, height } = images[0]!;
  return tf.tensor4d(mobileNetInputData(images), [images.length, height, width, 3]);
}

/**
 * Runs the frozen part once per image on every core of `runtime` (onnxruntime's threads or the
 * TF.js worker pool) and keeps every output concatenated on the first axis, in shared memory: the
 * cache that training epochs (on every training thread) read instead of recomputing frozen layers.
 */
export async function computeFrozenOutputs(
  frozen: tfl.LayersModel, images: RgbImage[], batchSize: number, runtime: Runtime, onProgress?: (done: number) => void,
): Promise<SharedTensor[]> {
  const runner = await runtime.batchRunner(frozen, batchSize);
  const outputShapes = frozen.outputs.map((o) => o.shape.slice(1) as number[]);
  const outputSizes = outputShapes.map((s) => s.reduce((a, b) => a * b, 1));
  const results = outputSizes.map((n) => new Float32Array(new SharedArrayBuffer(n * images.length * Float32Array.BYTES_PER_ELEMENT)));
  try {
    for (let start = 0; start < images.length; start += runner.rowsPerCall) {
      const batch = images.slice(start, start + runner.rowsPerCall);
      const { width, height } = batch[0]!;
      const outputs = await runner.run(mobileNetInputData(batch), [batch.length, height, width, 3]);
      outputs.forEach((out, k) => results[k]!.set(out, start * outputSizes[k]!));
      onProgress?.(start + batch.length);
    }
  } finally {
    await runner.dispose();
  }
  return results.map((values, k) => ({ shape: [images.length, ...outputShapes[k]!], values }));
}
