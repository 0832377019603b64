import * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, allocZeros, dispose, float32View, isWasm, runKernel } from './backend-access.js';
import type { ConvInfo } from './conv-geometry.js';
import { depthwiseInfo, forEachDepthwiseTap } from './depthwise-geometry.js';

/** Scatters dy * W back onto the input pixels; inner loops run over contiguous channels. */
function scatterLoop(dx: Float32Array, dy: Float32Array, w: Float32Array, info: ConvInfo): void {
  const channels = info.inChannels;
  const multiplier = info.outChannels / channels;
  if (multiplier === 1) {
    forEachDepthwiseTap(info, (xo, yo, wo) => {
      for (let c = 0; c < channels; c++) dx[xo + c]! += dy[yo + c]! * w[wo + c]!;
    });
  } else {
    forEachDepthwiseTap(info, (xo, yo, wo) => {
      for (let c = 0, oc = 0; c < channels; c++) {
        let sum = 0;
        for (let q = 0; q < multiplier; q++, oc++) sum += dy[yo + oc]! * w[wo + oc]!;
        dx[xo + c]! += sum;
      }
    });
  }
}

/** Spreads dy onto a stride-1 grid (zeros between rows and columns), the input of the transposed convolution. */
function dilate(backend: tf.KernelBackend, dy: tf.TensorInfo, info: ConvInfo): tf.TensorInfo {
  const { batchSize, outHeight, outWidth, outChannels: c, strideHeight: sh, strideWidth: sw } = info;
  if (sh === 1 && sw === 1) return dy;
  const height = (outHeight - 1) * sh + 1;
  const width = (outWidth - 1) * sw + 1;
  const out = allocZeros(backend, [batchSize, height, width, c]);
  const dst = float32View(backend, out);
  const src = float32View(backend, dy);
  for (let b = 0, from = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++, from += c) {
        dst.set(src.subarray(from, from + c), ((b * height + oh * sh) * width + ow * sw) * c);
      }
    }
  }
  return out;
}

function flipSpatially(backend: tf.KernelBackend, filter: tf.TensorInfo): tf.TensorInfo {
  const [fh, fw, c] = filter.shape as [number, number, number, number];
  const out = allocZeros(backend, filter.shape);
  const dst = float32View(backend, out);
  const src = float32View(backend, filter);
  for (let kh = 0; kh < fh; kh++) {
    for (let kw = 0; kw < fw; kw++) {
      const from = (kh * fw + kw) * c;
      dst.set(src.subarray(from, from + c), ((fh - 1 - kh) * fw + (fw - 1 - kw)) * c);
    }
  }
  return out;
}

/**
 * With multiplier 1 the input gradient is a forward depthwise convolution of the (dilated) dy with
 * the flipped filter, which wasm runs through XNNPACK; undefined when that formulation does not apply.
 */
function viaForwardDepthwise(backend: tf.KernelBackend, dy: tf.TensorInfo, filter: tf.TensorInfo, info: ConvInfo): tf.TensorInfo | undefined {
  if (!isWasm(backend) || info.outChannels !== info.inChannels || info.dilationHeight !== 1 || info.dilationWidth !== 1) return undefined;
  const { inHeight, inWidth, outHeight, outWidth, filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const top = fh - 1 - info.padInfo.top;
  const left = fw - 1 - info.padInfo.left;
  const bottom = inHeight - ((outHeight - 1) * sh + 1) + fh - 1 - top;
  const right = inWidth - ((outWidth - 1) * sw + 1) + fw - 1 - left;
  if (Math.min(top, left, bottom, right) < 0) return undefined;
  const source = dilate(backend, dy, info);
  const flipped = flipSpatially(backend, filter);
  const dx = runKernel(backend, tf.DepthwiseConv2dNative, { x: source, filter: flipped }, {
    strides: 1, dilations: 1, dataFormat: 'NHWC', pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
  } as unknown as tf.NamedAttrMap);
  dispose(backend, flipped);
  if (source !== dy) dispose(backend, source);
  return dx;
}

function depthwiseConv2dNativeBackpropInput({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const typedAttrs = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const info = depthwiseInfo(typedAttrs.inputShape, filter.shape, typedAttrs);
  const fast = viaForwardDepthwise(backend, dy, filter, info);
  if (fast !== undefined) return fast;
  const out = allocZeros(backend, typedAttrs.inputShape);
  scatterLoop(float32View(backend, out), float32View(backend, dy), float32View(backend, filter), info);
  return out;
}

export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as tf.KernelFunc,
};
