import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { RgbImage } from '../image/decode.js';

/** MobileNetV2's own preprocessing: pixels to [-1, 1] (the tutorial's rescale to [0, 1] is wrong for this base). */
export function toMobileNetInput(images: RgbImage[]): tf.Tensor4D {
  const { width, height } = images[0]!;
  const data = new Float32Array(images.length * width * height * 3);
  images.forEach((img, i) => {
    const offset = i * width * height * 3;
    for (let j = 0; j < img.data.length; j++) data[offset + j] = img.data[j]! / 127.5 - 1;
  });
  return tf.tensor4d(data, [images.length, height, width, 3]);
}

/**
 * Runs the frozen part once per image in batches and keeps every output concatenated on the
 * first axis: the cache that training epochs read instead of recomputing frozen layers.
 */
export function computeFrozenOutputs(frozen: tfl.LayersModel, images: RgbImage[], batchSize: number, onProgress?: (done: number) => void): tf.Tensor[] {
  const parts: tf.Tensor[][] = frozen.outputs.map(() => []);
  for (let start = 0; start < images.length; start += batchSize) {
    const batch = images.slice(start, start + batchSize);
    const outs = tf.tidy(() => {
      const y = frozen.predict(toMobileNetInput(batch));
      return Array.isArray(y) ? y : [y];
    });
    outs.forEach((t, k) => parts[k]!.push(t));
    onProgress?.(Math.min(images.length, start + batchSize));
  }
  return parts.map((p) => {
    const all = tf.concat(p, 0);
    tf.dispose(p);
    return all;
  });
}
