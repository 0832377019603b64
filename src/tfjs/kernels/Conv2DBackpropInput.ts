import * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, allocZeros, dispose, float32View, matMul, transpose2D, withShape } from './backend-access.js';
import { assertChannelsLast, isPointwise, patchMatrixShape, rowsToImage } from './conv-geometry.js';

/**
 * dx = col2im(dy @ W^T). For 1x1 convolutions (most of MobileNetV2) col2im is the identity,
 * so the whole kernel is one fast matmul; the stock wasm kernel is a scalar loop.
 */
function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  assertChannelsLast(tf.Conv2DBackpropInput, dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const [pixels, taps] = patchMatrixShape(info);
  const filterT = transpose2D(backend, filter, taps, info.outChannels);
  const rows = matMul(backend, dy, filterT, pixels, info.outChannels, taps);
  dispose(backend, filterT);
  if (isPointwise(info)) return withShape(backend, rows, inputShape);
  const dx = allocZeros(backend, inputShape);
  rowsToImage(float32View(backend, rows), float32View(backend, dx), info);
  dispose(backend, rows);
  return dx;
}

export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as tf.KernelFunc,
};
