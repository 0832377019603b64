import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers registers every gradient function on import (tfjs-core alone registers none), so
// importing it first guarantees they exist and that ours below override its ClipByValue/Relu ones.
import '@tensorflow/tfjs-layers';
import { conv2DBackpropFilterConfig } from './Conv2DBackpropFilter.js';
import { conv2DBackpropInputConfig } from './Conv2DBackpropInput.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './DepthwiseConv2dNativeBackpropFilter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './DepthwiseConv2dNativeBackpropInput.js';
import { ACTIVATION_GRADIENTS, passThroughGradConfig } from './FacetrainPassThroughGrad.js';
import { identityConfig } from './Identity.js';
import { tileConfig } from './Tile.js';

/** Convolution gradients (missing on wasm, index-by-index slow on stock cpu) and the fused activation gradient. */
export const TRAINING_KERNELS: readonly tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  passThroughGradConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
];

/** Stock wasm kernels that dominate a training step and have a much faster formulation. */
export const WASM_SPEEDUPS: readonly tf.KernelConfig[] = [tileConfig, identityConfig];

const registrations: readonly { config: tf.KernelConfig; backendName: string }[] = [
  ...TRAINING_KERNELS.flatMap((config) => ['wasm', 'cpu'].map((backendName) => ({ config, backendName }))),
  ...WASM_SPEEDUPS.map((config) => ({ config, backendName: 'wasm' })),
];

const stockCpuKernels = new Map<string, tf.KernelFunc>();

/**
 * The tfjs-backend-cpu kernel that `registerTrainingKernels` replaced, kept as the reference
 * implementation for tests and benchmarks.
 */
export function stockCpuKernel(kernelName: string): tf.KernelFunc | undefined {
  return stockCpuKernels.get(kernelName) ?? tf.getKernel(kernelName, 'cpu')?.kernelFunc;
}

/**
 * Registers the gradient kernels the wasm backend lacks and replaces the slow stock cpu ones.
 * Idempotent: a second call finds its own kernels in place and does nothing.
 */
export function registerTrainingKernels(): void {
  for (const { config, backendName } of registrations) {
    const current = tf.getKernel(config.kernelName, backendName);
    if (current?.kernelFunc === config.kernelFunc) continue;
    if (current !== undefined) {
      if (backendName === 'cpu') stockCpuKernels.set(config.kernelName, current.kernelFunc);
      tf.unregisterKernel(config.kernelName, backendName);
    }
    tf.registerKernel({ ...config, backendName });
  }
  // Re-registering the same gradient is a no-op overwrite.
  for (const gradient of ACTIVATION_GRADIENTS) tf.registerGradient(gradient);
}
