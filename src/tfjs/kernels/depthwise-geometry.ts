import * as tf from '@tensorflow/tfjs-core';
import type { ConvInfo } from './conv-geometry.js';

export function depthwiseInfo(
  inputShape: number[], filterShape: number[], attrs: tf.DepthwiseConv2dNativeBackpropInputAttrs | tf.DepthwiseConv2dNativeBackpropFilterAttrs,
): ConvInfo {
  return tf.backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, true, 'channelsLast');
}

/**
 * Calls `visit` once per (output pixel, filter tap) pair that reads a real input pixel, with the
 * NHWC offsets of that input pixel, of the output pixel and of the tap's filter slice; the callers'
 * inner loops then run over contiguous channels.
 */
export function forEachDepthwiseTap(info: ConvInfo, visit: (xOffset: number, dyOffset: number, filterOffset: number) => void): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const { top, left } = info.padInfo;
  let dyOffset = 0;
  for (let b = 0; b < batchSize; b++) {
    const xBatch = b * inHeight * inWidth;
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++, dyOffset += outChannels) {
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = oh * strideHeight + kh * dilationHeight - top;
          if (ih < 0 || ih >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * strideWidth + kw * dilationWidth - left;
            if (iw < 0 || iw >= inWidth) continue;
            visit((xBatch + ih * inWidth + iw) * inChannels, dyOffset, (kh * filterWidth + kw) * outChannels);
          }
        }
      }
    }
  }
}
