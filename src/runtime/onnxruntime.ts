import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type * as tfl from '@tensorflow/tfjs-layers';
import { irFromLayersModel } from '../graph/from-layers.js';
import type { IrGraph } from '../graph/ir.js';
import { irToOnnx } from '../graph/onnx.js';
import { optimizeIr } from '../graph/optimize.js';
import type { BatchRunner, ModelSession, OnnxRuntime, Runtime } from './runtime.js';

/** onnxruntime-node when it is installed and loads (it ships a native binary), else undefined. */
export async function loadOnnxRuntime(): Promise<OnnxRuntime | undefined> {
  try {
    return await import('onnxruntime-node');
  } catch {
    return undefined;
  }
}

/** An onnxruntime session; `release` may be called more than once (onnxruntime throws on a second release). */
export type OnnxSession = ModelSession;

/**
 * Channels per block of onnxruntime's blocked (NCHWc) convolution layout on this CPU: 16 where x86
 * has AVX-512F, 8 with AVX2 (MLAS's NchwcBlockSize); 1 elsewhere (no blocked layout: ARM, or
 * cpuinfo unreadable). A convolution whose channels are not a multiple of it runs outside the
 * layout, with a reorder out of it and back.
 */
export function onnxChannelBlock(): number {
  if (process.arch !== 'x64') return 1;
  let flags: string;
  try {
    flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '';
  } catch {
    return 8;
  }
  const has = (flag: string) => flags.split(' ').includes(flag);
  return has('avx512f') ? 16 : has('avx2') ? 8 : 1;
}

let threadsPerSession = availableParallelism();

/**
 * Threads of each session created after this call in this thread (default: every core). A pool of
 * worker threads, one per core, gives each worker one: more would make the sessions fight for cores.
 */
export function setOnnxThreadsPerSession(threads: number): void {
  threadsPerSession = Math.max(1, Math.floor(threads));
}

export interface OnnxSessionOptions {
  /** Threads one run is spread over; default every core (or `setOnnxThreadsPerSession`). */
  threads: number;
  /**
   * What a session's idle pool threads do. `always` (onnxruntime's default): busy-wait for the next
   * op, also after the run ends, until the next run, taking a core from whatever runs between.
   * `never`: sleep, which leaves the core to others but wakes them late for each op, so a second
   * thread gains little. `in-runs`: busy-wait within a run and sleep once it ends: a second thread
   * that pays at no cost between runs (BlazeFace's three 256 px views on two threads 7.8 ms wall and
   * 15.5 ms CPU, against 15.9 / 16.0 on one and 10.1 / 17.6 on two sleeping).
   */
  spinning: 'always' | 'in-runs' | 'never';
}

const SPINNING_CONFIG: Record<OnnxSessionOptions['spinning'], Record<string, unknown>> = {
  always: {},
  'in-runs': { extra: { session: { force_spinning_stop: '1' } } },
  never: { extra: { session: { intra_op: { allow_spinning: '0' } } } },
};

/** A session on an in-memory ONNX model, threaded over every core (or `setOnnxThreadsPerSession`) unless told otherwise. */
export async function createOnnxSession(ort: OnnxRuntime, bytes: Uint8Array, options: Partial<OnnxSessionOptions> = {}): Promise<OnnxSession> {
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: options.threads ?? threadsPerSession,
    graphOptimizationLevel: 'all',
    ...SPINNING_CONFIG[options.spinning ?? 'always'],
  });
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

/** onnxruntime-node as the runtime: every model converted to ONNX in memory and run on its threads (about 10x the wasm pool). */
export function onnxRuntime(ort: OnnxRuntime): Runtime {
  return {
    name: 'onnx',
    ort,
    layersModelSession: (model) => layersModelSession(ort, model),
    async batchRunner(model, batchSize): Promise<BatchRunner> {
      const session = await layersModelSession(ort, model);
      return { rowsPerCall: batchSize, run: (input, shape) => session.run(input, shape), dispose: async () => session.release() };
    },
  };
}
