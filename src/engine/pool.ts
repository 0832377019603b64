import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
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

export type PoolResponse = { id: number; outputs: Float32Array[] } | { id: number; error: string };

interface Pending {
  resolve: (outputs: Float32Array[]) => void;
  reject: (err: Error) => void;
}

class PoolWorker {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (message: PoolResponse) => {
      const pending = this.pending.get(message.id);
      if (pending === undefined) return;
      this.pending.delete(message.id);
      if ('error' in message) pending.reject(new Error(`inference worker: ${message.error}`));
      else pending.resolve(message.outputs);
    });
    worker.on('error', (err) => this.failAll(err));
    worker.on('exit', (code) => this.failAll(new Error(`inference worker exited with code ${code}`)));
  }

  static start(data: PoolWorkerData): Promise<PoolWorker> {
    const worker = new Worker(new URL('./pool-worker.js', import.meta.url), { workerData: data });
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      worker.once('error', onError);
      worker.once('message', () => {
        worker.off('error', onError);
        resolve(new PoolWorker(worker));
      });
    });
  }

  run(input: Float32Array, shape: number[]): Promise<Float32Array[]> {
    if (this.closed !== undefined) return Promise.reject(this.closed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const request: PoolRequest = { id, input, shape };
      this.worker.postMessage(request);
    });
  }

  async terminate(): Promise<void> {
    this.failAll(new Error('inference pool disposed'));
    await this.worker.terminate();
  }

  private failAll(err: Error): void {
    this.closed ??= err;
    for (const pending of this.pending.values()) pending.reject(err);
    this.pending.clear();
  }
}

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
  const started = await Promise.allSettled(Array.from({ length: count }, () => PoolWorker.start(data)));
  const workers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure !== undefined) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw failure.reason as Error;
  }
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
        return workers[i]!.run(slice, [rows, ...rest]);
      });
      const results = await Promise.all(chunks);
      return results[0]!.map((_, output) => concatenate(results.map((r) => r[output]!)));
    },
    async dispose(): Promise<void> {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
