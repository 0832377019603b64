/**
 * Registers the gradient kernels the wasm backend lacks and replaces the slow stock cpu ones.
 * Filled in by the "fast training engine" work; kept as the single entry point.
 */
export function registerTrainingKernels(): void {}
