import type { RgbImage } from './decode.js';

/**
 * Same-size RGB images as one NHWC float batch, normalised as (x - mean) / std. Computed as
 * x / std - mean / std so that MobileNetV2's (127.5, 127.5) gives exactly Keras' x / 127.5 - 1.
 */
export function normalisedPixels(images: RgbImage[], mean: number, std: number): Float32Array {
  const size = images[0]?.data.length ?? 0;
  const offset = mean / std;
  const data = new Float32Array(images.length * size);
  images.forEach((img, i) => {
    for (let j = 0; j < size; j++) data[i * size + j] = img.data[j]! / std - offset;
  });
  return data;
}
