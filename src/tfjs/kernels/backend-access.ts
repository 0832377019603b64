import * as tf from '@tensorflow/tfjs-core';

/**
 * What the training kernels need from a backend, whichever one runs them: zero-copy float32 views
 * of tensors, fresh outputs, and the backend's own kernels (BatchMatMul, Transpose, ...) to compose with.
 * wasm keeps tensors in its heap; cpu in plain typed arrays.
 */
interface WasmBackendLike extends tf.KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  incRef(dataId: tf.DataId): void;
}

/** KernelFunc's own argument type leaves `backend` untyped. */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs: tf.NamedAttrMap;
}

export function isWasm(backend: tf.KernelBackend): backend is WasmBackendLike {
  return typeof (backend as Partial<WasmBackendLike>).typedArrayFromHeap === 'function';
}

/** A float32 tensor of `shape`, zero-filled (kernels accumulate into it). */
export function allocZeros(backend: tf.KernelBackend, shape: number[]): tf.TensorInfo {
  if (isWasm(backend)) {
    const out = backend.makeOutput(shape, 'float32');
    backend.typedArrayFromHeap(out).fill(0);
    return out;
  }
  const dataId = backend.write(new Float32Array(tf.util.sizeFromShape(shape)), shape, 'float32');
  return { dataId, shape, dtype: 'float32' };
}

/**
 * A live view of a float32 tensor's data (no copy). On wasm the view dies when the heap grows,
 * so take views only after every allocation of the kernel is done.
 */
export function float32View(backend: tf.KernelBackend, info: tf.TensorInfo): Float32Array {
  if (info.dtype !== 'float32') throw new Error(`training kernels expect float32 tensors, got ${info.dtype}`);
  if (isWasm(backend)) return backend.typedArrayFromHeap(info) as Float32Array;
  return backend.readSync(info.dataId) as Float32Array;
}

const backendNames = new WeakMap<tf.KernelBackend, string>();

function backendNameOf(backend: tf.KernelBackend): string {
  let name = backendNames.get(backend);
  if (name === undefined) {
    const engine = tf.engine();
    name = engine.backendNames().find((n) => engine.registry[n] === backend);
    if (name === undefined) throw new Error('training kernel called with a backend that is not registered');
    backendNames.set(backend, name);
  }
  return name;
}

/** Runs another kernel of the same backend on TensorInfos (no tape, no engine bookkeeping). */
export function runKernel(
  backend: tf.KernelBackend,
  kernelName: string,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, backendNameOf(backend));
  if (kernel === undefined) throw new Error(`kernel ${kernelName} is not registered for ${backendNameOf(backend)}`);
  const out = kernel.kernelFunc({ inputs, attrs, backend });
  return Array.isArray(out) ? out[0]! : out;
}

export function reshape(backend: tf.KernelBackend, x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return runKernel(backend, tf.Reshape, { x }, { shape });
}

/** a @ b on 2-D operands (given as any shape with the right element count) without transposes: the fast XNNPACK path. */
export function matMul(backend: tf.KernelBackend, a: tf.TensorInfo, b: tf.TensorInfo, m: number, k: number, n: number): tf.TensorInfo {
  const a3 = reshape(backend, a, [1, m, k]);
  const b3 = reshape(backend, b, [1, k, n]);
  const out = runKernel(backend, tf.BatchMatMul, { a: a3, b: b3 }, { transposeA: false, transposeB: false });
  dispose(backend, a3, b3);
  return out;
}

/** Transpose of a matrix stored row-major as rows x cols. */
export function transpose2D(backend: tf.KernelBackend, x: tf.TensorInfo, rows: number, cols: number): tf.TensorInfo {
  const x2 = reshape(backend, x, [rows, cols]);
  const out = runKernel(backend, tf.Transpose, { x: x2 }, { perm: [1, 0] });
  dispose(backend, x2);
  return out;
}

export function dispose(backend: tf.KernelBackend, ...infos: tf.TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** Result of a composed kernel, relabelled to its final shape without copying. */
export function withShape(backend: tf.KernelBackend, x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  const out = reshape(backend, x, shape);
  dispose(backend, x);
  return out;
}
