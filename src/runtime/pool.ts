import { availableParallelism } from 'node:os';
import { startWorkers, type WorkerClient, type WorkerReply } from './worker-client.js';
import type * as tf from '@tensorflow/tfjs-core';
import { io } from '@tensorflow/tfjs-core';

/** Node runs wasm single-threaded, so both cores are used by giving each its own worker and backend. */
export interface InferencePoolOptions {
  /** Number of worker threads; default os.availableParallelism(). */
  workers?: number;
}

export interface InferencePool {
  readonly workers: number;
  /** Runs the model on `input` (shape [batch, ...]); the batch is split across workers. One array per model output, in order. */
  predict(input: Float32Array, shape: number[]): Promise<Float32Array[]>;
  /** Terminates the workers; pending predictions are rejected. */
  dispose(): Promise<void>;
}

export interface PoolWorkerData {
  modelTopology: tf.io.ModelArtifacts['modelTopology'];
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

export interface PoolRequest {
  id: number;
  input: Float32Array;
  shape: number[];
}

export interface PoolResponse extends WorkerReply {
  outputs?: Float32Array[];
}

type PoolWorker = WorkerClient<Omit<PoolRequest, 'id'>, PoolResponse>;

/** The in-memory artifacts (topology + weights) of a model, as createInferencePool takes them. */
export async function modelArtifacts(model: { save(handler: tf.io.IOHandler): Promise<tf.io.SaveResult> }): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: io.getModelArtifactsInfoForJSON(artifacts) };
  }));
  return saved!;
}

/** Splits `total` rows into at most `parts` contiguous, nearly equal, non-empty chunks. */
export function splitBatch(total: number, parts: number): number[] {
  const used = Math.max(1, Math.min(parts, total));
  return Array.from({ length: used }, (_, i) => Math.floor((total * (i + 1)) / used) - Math.floor((total * i) / used));
}

function concatenate(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Starts `workers` threads, each with its own wasm backend and a copy of the model
 * (memory: one model copy plus activations per worker). Call dispose() when done.
 */
export async function createInferencePool(artifacts: tf.io.ModelArtifacts, options: InferencePoolOptions = {}): Promise<InferencePool> {
  if (artifacts.modelTopology === undefined || artifacts.weightSpecs === undefined || artifacts.weightData === undefined) {
    throw new Error('createInferencePool needs model artifacts with topology and weights (e.g. from a save handler)');
  }
  const count = Math.max(1, options.workers ?? availableParallelism());
  const weightData = io.CompositeArrayBuffer.join(artifacts.weightData);
  const data: PoolWorkerData = { modelTopology: artifacts.modelTopology, weightSpecs: artifacts.weightSpecs, weightData };
  const workers: PoolWorker[] = await startWorkers(count, new URL('./pool-worker.js', import.meta.url), () => data, 'inference worker');
  return {
    workers: count,
    async predict(input: Float32Array, shape: number[]): Promise<Float32Array[]> {
      const [batch, ...rest] = shape;
      if (batch === undefined || input.length !== shape.reduce((a, b) => a * b, 1)) {
        throw new Error(`predict: input has ${input.length} values, which does not match shape [${shape}]`);
      }
      const rowSize = input.length / Math.max(1, batch);
      let start = 0;
      const chunks = splitBatch(batch, count).map((rows, i) => {
        const slice = input.slice(start * rowSize, (start + rows) * rowSize);
        start += rows;
        return workers[i]!.request({ input: slice, shape: [rows, ...rest] }, [slice.buffer]).then((reply) => reply.outputs!);
      });
      const results = await Promise.all(chunks);
      return results[0]!.map((_, output) => concatenate(results.map((r) => r[output]!)));
    },
    async dispose(): Promise<void> {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
