import * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, isWasm } from './backend-access.js';

/**
 * Tensors are immutable, so an identity can share its input's memory (as tfjs-backend-cpu does);
 * the stock wasm kernel copies, and autodiff and tfjs-layers call it hundreds of times per step.
 */
function identity({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  if (!isWasm(backend)) throw new Error('Identity: the facetrain kernel is for the wasm backend');
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export const identityConfig: tf.KernelConfig = {
  kernelName: tf.Identity,
  backendName: 'wasm',
  kernelFunc: identity as unknown as tf.KernelFunc,
};
