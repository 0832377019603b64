import * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, allocZeros, float32View } from './backend-access.js';
import { depthwiseInfo, forEachDepthwiseTap } from './depthwise-geometry.js';

/** Scatters dy * W back onto the input pixels; inner loops run over contiguous channels. */
function depthwiseConv2dNativeBackpropInput({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const typedAttrs = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const info = depthwiseInfo(typedAttrs.inputShape, filter.shape, typedAttrs);
  const out = allocZeros(backend, typedAttrs.inputShape);
  const dx = float32View(backend, out);
  const dyValues = float32View(backend, dy);
  const w = float32View(backend, filter);
  const channels = info.inChannels;
  const multiplier = info.outChannels / channels;
  if (multiplier === 1) {
    forEachDepthwiseTap(info, (xo, yo, wo) => {
      for (let c = 0; c < channels; c++) dx[xo + c]! += dyValues[yo + c]! * w[wo + c]!;
    });
  } else {
    forEachDepthwiseTap(info, (xo, yo, wo) => {
      for (let c = 0, oc = 0; c < channels; c++) {
        let sum = 0;
        for (let q = 0; q < multiplier; q++, oc++) sum += dyValues[yo + oc]! * w[wo + oc]!;
        dx[xo + c]! += sum;
      }
    });
  }
  return out;
}

export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as tf.KernelFunc,
};
