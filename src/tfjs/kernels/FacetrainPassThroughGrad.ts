import * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, float32View, isWasm } from './backend-access.js';

/** Custom kernel: dx = dy where x lies in the pass-through range of an activation, else 0. */
export const PASS_THROUGH_GRAD = 'FacetrainPassThroughGrad';

export interface PassThroughGradAttrs {
  /** x must be > lower (or >= lower when lowerInclusive). */
  lower: number;
  lowerInclusive: boolean;
  /** x must be <= upper. */
  upper: number;
}

/**
 * One pass instead of the 4-6 elementwise kernels (GreaterEqual, LessEqual, LogicalAnd, Select,
 * ZerosLike / Step, Cast, Multiply) that the stock gradients of ClipByValue and Relu run over
 * activation-sized tensors, twice per ReLU6 layer of MobileNetV2.
 */
function passThroughGrad({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const { lower, upper, lowerInclusive } = attrs as unknown as PassThroughGradAttrs;
  const size = tf.util.sizeFromShape(x.shape);
  const out: tf.TensorInfo = isWasm(backend)
    ? backend.makeOutput(x.shape, 'float32')
    : { dataId: backend.write(new Float32Array(size), x.shape, 'float32'), shape: x.shape, dtype: 'float32' };
  const dx = float32View(backend, out);
  const dyValues = float32View(backend, dy);
  const xValues = float32View(backend, x);
  for (let i = 0; i < size; i++) {
    const v = xValues[i]!;
    dx[i] = (v > lower || (lowerInclusive && v === lower)) && v <= upper ? dyValues[i]! : 0;
  }
  return out;
}

export const passThroughGradConfig: tf.KernelConfig = {
  kernelName: PASS_THROUGH_GRAD,
  backendName: 'wasm',
  kernelFunc: passThroughGrad as unknown as tf.KernelFunc,
};

function passThrough(dy: tf.Tensor, x: tf.Tensor, attrs: PassThroughGradAttrs): tf.Tensor {
  return tf.engine().runKernel(PASS_THROUGH_GRAD, { dy, x }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** Same values as tfjs-core's gradients of ClipByValue and Relu, computed by the fused kernel. */
export const ACTIVATION_GRADIENTS: readonly tf.GradConfig[] = [
  {
    kernelName: tf.ClipByValue,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const { clipValueMin, clipValueMax } = attrs as unknown as tf.ClipByValueAttrs;
      return { x: () => passThrough(dy as tf.Tensor, saved[0]!, { lower: clipValueMin, lowerInclusive: true, upper: clipValueMax }) };
    },
  },
  {
    kernelName: tf.Relu,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({ x: () => passThrough(dy as tf.Tensor, saved[0]!, { lower: 0, lowerInclusive: false, upper: Infinity }) }),
  },
];
