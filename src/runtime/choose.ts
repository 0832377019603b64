import { FacetrainError } from '../errors.js';
import { loadOnnxRuntime, onnxRuntime } from './onnxruntime.js';
import type { Runtime, RuntimeName } from './runtime.js';
import { TFJS_RUNTIME } from './tfjs.js';

/**
 * The runtime for `name`; with no choice, onnxruntime when it loads, else TF.js. Asking for onnx
 * without the package is a user error, not a silent fallback.
 */
export async function chooseRuntime(name: RuntimeName | undefined): Promise<Runtime> {
  if (name === 'tfjs') return TFJS_RUNTIME;
  const ort = await loadOnnxRuntime();
  if (ort) return onnxRuntime(ort);
  if (name === 'onnx') {
    throw new FacetrainError('FT_ERR_UNSUPPORTED', 'the onnx engine needs the onnxruntime-node package: npm install onnxruntime-node (with onnxruntime-node-install=skip in .npmrc when offline)');
  }
  return TFJS_RUNTIME;
}
