import { availableParallelism } from 'node:os';
import type * as tfl from '@tensorflow/tfjs-layers';
import type * as Ort from 'onnxruntime-node';
import { irFromLayersModel } from '../export/from-layers.js';
import type { IrGraph } from '../export/ir.js';
import { irToOnnx } from '../export/onnx.js';
import { optimizeIr } from '../export/optimize.js';
import { FacetrainError } from '../util/errors.js';

/** Runtime for the networks: onnxruntime-node (native, both cores) or TF.js (wasm). */
export type EngineName = 'tfjs' | 'onnx';

export type OnnxRuntime = typeof Ort;

/** onnxruntime-node when it is installed and loads (it ships a native binary), else undefined. */
export async function loadOnnxRuntime(): Promise<OnnxRuntime | undefined> {
  try {
    return await import('onnxruntime-node');
  } catch {
    return undefined;
  }
}

/**
 * onnxruntime for `engine` 'onnx', undefined for 'tfjs'; with no choice, onnxruntime when it loads.
 * Asking for onnx without the package is a user error, not a silent fallback.
 */
export async function runtimeFor(engine: EngineName | undefined): Promise<OnnxRuntime | undefined> {
  if (engine === 'tfjs') return undefined;
  const ort = await loadOnnxRuntime();
  if (engine === 'onnx' && !ort) {
    throw new FacetrainError('FT_ERR_UNSUPPORTED', '--engine onnx needs the onnxruntime-node package: npm install onnxruntime-node (with onnxruntime-node-install=skip in .npmrc when offline)');
  }
  return ort;
}

export interface OnnxSession {
  /** Runs a float32 NHWC batch; one array per output, in the graph's output order. */
  run(input: Float32Array, shape: number[]): Promise<Float32Array[]>;
  /** Frees the native session; safe to call more than once (onnxruntime throws on a second release). */
  release(): void;
}

let threadsPerSession = availableParallelism();

/**
 * Threads of each session created after this call in this thread (default: every core). A pool of
 * worker threads, one per core, gives each worker one: more would make the sessions fight for cores.
 */
export function setOnnxThreadsPerSession(threads: number): void {
  threadsPerSession = Math.max(1, Math.floor(threads));
}

/** A session on an in-memory ONNX model, threaded over every core (or `setOnnxThreadsPerSession`). */
export async function createOnnxSession(ort: OnnxRuntime, bytes: Uint8Array): Promise<OnnxSession> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threadsPerSession, graphOptimizationLevel: 'all' });
  let released = false;
  return {
    async run(input, shape) {
      const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input, shape) });
      return session.outputNames.map((name) => out[name]!.data as Float32Array);
    },
    release() {
      if (!released) void session.release().catch(() => undefined);
      released = true;
    },
  };
}

/** An IR graph optimised, written as ONNX in memory (every output kept, in order) and opened in a session. */
export async function irSession(ort: OnnxRuntime, ir: IrGraph, name: string): Promise<OnnxSession> {
  const optimised = optimizeIr(ir);
  const outputNames = optimised.outputs.map((_, i) => `output_${i}`);
  return createOnnxSession(ort, irToOnnx(optimised, { metadata: {}, producerVersion: '0', name, outputNames }));
}

export function layersModelSession(ort: OnnxRuntime, model: tfl.LayersModel): Promise<OnnxSession> {
  return irSession(ort, irFromLayersModel(model, 'ONNX'), model.name);
}
