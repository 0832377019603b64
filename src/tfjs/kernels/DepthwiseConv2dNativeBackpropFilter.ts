import * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, allocZeros, float32View } from './backend-access.js';
import { depthwiseInfo, forEachDepthwiseTap } from './depthwise-geometry.js';

/** Accumulates x * dy per tap; the [taps, channels] result stays in cache for the whole pass. */
function depthwiseConv2dNativeBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const typedAttrs = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const info = depthwiseInfo(x.shape, typedAttrs.filterShape, typedAttrs);
  const out = allocZeros(backend, typedAttrs.filterShape);
  const dw = float32View(backend, out);
  const xValues = float32View(backend, x);
  const dyValues = float32View(backend, dy);
  const channels = info.inChannels;
  const multiplier = info.outChannels / channels;
  if (multiplier === 1) {
    forEachDepthwiseTap(info, (xo, yo, wo) => {
      for (let c = 0; c < channels; c++) dw[wo + c]! += xValues[xo + c]! * dyValues[yo + c]!;
    });
  } else {
    forEachDepthwiseTap(info, (xo, yo, wo) => {
      for (let c = 0, oc = 0; c < channels; c++) {
        const xc = xValues[xo + c]!;
        for (let q = 0; q < multiplier; q++, oc++) dw[wo + oc]! += xc * dyValues[yo + oc]!;
      }
    });
  }
  return out;
}

export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as tf.KernelFunc,
};
