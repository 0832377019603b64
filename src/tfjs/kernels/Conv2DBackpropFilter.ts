import * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, allocZeros, dispose, float32View, matMul, transpose2D, withShape } from './backend-access.js';
import { assertChannelsLast, imageToRows, isPointwise, patchMatrixShape } from './conv-geometry.js';

/**
 * dW = patches(x)^T @ dy. The transpose is done explicitly because the backends' matmul is
 * several times faster without transpose flags (XNNPACK only packs the plain layout).
 */
function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  assertChannelsLast(tf.Conv2DBackpropFilter, dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const [pixels, taps] = patchMatrixShape(info);
  let patches = x;
  if (!isPointwise(info)) {
    patches = allocZeros(backend, [pixels, taps]);
    imageToRows(float32View(backend, x), float32View(backend, patches), info);
  }
  const patchesT = transpose2D(backend, patches, pixels, taps);
  if (patches !== x) dispose(backend, patches);
  const dw = matMul(backend, patchesT, dy, taps, pixels, info.outChannels);
  dispose(backend, patchesT);
  return withShape(backend, dw, filterShape);
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
