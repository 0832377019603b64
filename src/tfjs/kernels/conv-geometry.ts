import * as tf from '@tensorflow/tfjs-core';

export type ConvInfo = tf.backend_util.Conv2DInfo;

/** Only channels-last is needed: tfjs-layers transposes channels-first inputs before convolving. */
export function assertChannelsLast(kernelName: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`${kernelName}: only NHWC is implemented by the facetrain training kernels, got ${dataFormat}`);
  }
}

/** A 1x1, stride-1, unpadded convolution is a plain matrix product over all pixels. */
export function isPointwise(info: ConvInfo): boolean {
  const { padInfo } = info;
  return info.filterHeight === 1 && info.filterWidth === 1 && info.strideHeight === 1 && info.strideWidth === 1
    && padInfo.top === 0 && padInfo.left === 0 && padInfo.bottom === 0 && padInfo.right === 0;
}

/** Output pixels x (kernel taps x input channels): the im2col matrix, row per output pixel. */
export function patchMatrixShape(info: ConvInfo): [number, number] {
  return [info.batchSize * info.outHeight * info.outWidth, info.filterHeight * info.filterWidth * info.inChannels];
}

/**
 * Calls `visit` once per (output pixel, filter tap) pair that reads a real input pixel, with the
 * NHWC offset of that input pixel and the offset of the tap's slot in the im2col matrix
 * ([pixels, taps*inChannels]); padding taps are skipped.
 */
function forEachPatchTap(info: ConvInfo, visit: (xOffset: number, rowOffset: number) => void): void {
  const { batchSize, inHeight, inWidth, inChannels: ci, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const { top, left } = info.padInfo;
  const rowLength = filterHeight * filterWidth * ci;
  let row = 0;
  for (let b = 0; b < batchSize; b++) {
    const xBatch = b * inHeight * inWidth * ci;
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++, row += rowLength) {
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = oh * strideHeight + kh - top;
          if (ih < 0 || ih >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * strideWidth + kw - left;
            if (iw < 0 || iw >= inWidth) continue;
            visit(xBatch + (ih * inWidth + iw) * ci, row + (kh * filterWidth + kw) * ci);
          }
        }
      }
    }
  }
}

/** Copies every receptive field of `x` (NHWC) into its row of `rows`; padding taps keep the caller's zeros. */
export function imageToRows(x: Float32Array, rows: Float32Array, info: ConvInfo): void {
  const ci = info.inChannels;
  forEachPatchTap(info, (xo, ro) => rows.set(x.subarray(xo, xo + ci), ro));
}

/** The adjoint of imageToRows: adds every row's taps back onto the pixels they were read from. */
export function rowsToImage(rows: Float32Array, dx: Float32Array, info: ConvInfo): void {
  const ci = info.inChannels;
  forEachPatchTap(info, (xo, ro) => {
    for (let c = 0; c < ci; c++) dx[xo + c]! += rows[ro + c]!;
  });
}
