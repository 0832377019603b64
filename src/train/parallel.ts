import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { modelArtifacts, splitBatch } from '../runtime/pool.js';
import { startWorkers, type WorkerClient, type WorkerReply } from '../runtime/worker-client.js';
import type { PhaseOptions } from './loop.js';
import { addScores, runPhase, type EpochMetrics, type Score, type StepBatch } from './phase.js';
import {
  applyFlatGradients, flatSize, partDropoutSeed, partGradients, replicaForward, replicaWeights, scoreShared, variablesOf,
  type PartRequest, type ReplicaForward, type ReplicaModels, type SharedPhaseData,
} from './replica.js';

/** A model as plain data a worker can rebuild it from. */
export interface ModelBlob {
  modelTopology: tf.io.ModelArtifacts['modelTopology'];
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

export interface ReplicaWorkerData {
  tail?: ModelBlob;
  head: ModelBlob;
  /** The main thread's trainable weights, in order: the worker checks it rebuilt the same list. */
  weightNames: string[];
  train: SharedPhaseData;
  val?: SharedPhaseData;
  numClasses: number;
  learningRate: number;
  /** Where this worker writes its part's gradients (shared with the main thread). */
  gradients: Float32Array;
  /** Where the main thread writes the summed gradients every replica applies (shared). */
  average: Float32Array;
}

type ReplicaCall = { kind: 'gradients'; part: PartRequest } | { kind: 'apply' } | { kind: 'evaluate'; rows: number[] } | { kind: 'weights' };

export type ReplicaRequest = ReplicaCall & { id: number };

export interface ReplicaResponse extends WorkerReply {
  lossSum?: number;
  right?: number;
  weights?: Float32Array[];
}

type ReplicaWorker = WorkerClient<ReplicaCall, ReplicaResponse>;

async function modelBlob(model: tfl.LayersModel): Promise<ModelBlob> {
  const artifacts = await modelArtifacts(model);
  return { modelTopology: artifacts.modelTopology, weightSpecs: artifacts.weightSpecs!, weightData: tf.io.CompositeArrayBuffer.join(artifacts.weightData!) };
}

export interface ReplicaGroupOptions {
  models: ReplicaModels;
  train: SharedPhaseData;
  val?: SharedPhaseData;
  numClasses: number;
  learningRate: number;
  /** Replicas, this thread included: parts - 1 workers are started. */
  parts: number;
}

/**
 * Data-parallel training: this thread's models are replica 0 and each worker holds a copy. A step
 * splits the batch into parts, every replica computes its part's gradients, this thread sums them
 * and every replica applies the same sum with its own Adam: identical inputs to identical code keep
 * the replicas identical, so only gradients cross threads, never weights.
 */
export class ReplicaGroup {
  private readonly forward: ReplicaForward;
  private readonly variables: tf.Variable[];
  private readonly optimizer: tf.Optimizer;
  private applied: Promise<unknown>[] = [];

  private constructor(
    private readonly o: ReplicaGroupOptions,
    private readonly workers: ReplicaWorker[],
    /** One gradient slot per part; slot 0 is this thread's. */
    private readonly slots: Float32Array[],
    private readonly average: Float32Array,
  ) {
    this.forward = replicaForward(o.models);
    this.variables = variablesOf(replicaWeights(o.models));
    this.optimizer = tf.train.adam(o.learningRate);
  }

  static async start(o: ReplicaGroupOptions): Promise<ReplicaGroup> {
    const size = flatSize(variablesOf(replicaWeights(o.models)));
    const slotBuffer = new SharedArrayBuffer(size * o.parts * Float32Array.BYTES_PER_ELEMENT);
    const slots = Array.from({ length: o.parts }, (_, k) => new Float32Array(slotBuffer, k * size * Float32Array.BYTES_PER_ELEMENT, size));
    const average = new Float32Array(new SharedArrayBuffer(size * Float32Array.BYTES_PER_ELEMENT));
    const [tail, head] = await Promise.all([o.models.tail && modelBlob(o.models.tail), modelBlob(o.models.head)]);
    const common = {
      tail, head, weightNames: replicaWeights(o.models).map((w) => w.originalName), train: o.train, val: o.val,
      numClasses: o.numClasses, learningRate: o.learningRate, average,
    };
    const workers = await startWorkers<ReplicaCall, ReplicaResponse>(
      o.parts - 1, new URL('./replica-worker.js', import.meta.url), (k) => ({ ...common, gradients: slots[k + 1] }), 'training worker');
    return new ReplicaGroup(o, workers, slots, average);
  }

  /** One Adam step on the whole batch; returns the batch's loss sum and hits. */
  async step(batch: StepBatch): Promise<Score> {
    const parts = partRequests(batch, this.o.parts);
    const pending = parts.slice(1).map((part, k) => this.workers[k]!.request({ kind: 'gradients', part }));
    const own = partGradients(this.forward, this.variables, this.o.train.inputs, this.o.numClasses, parts[0]!, this.slots[0]!);
    // the workers must be done reading the previous sum before it is overwritten
    const [others] = await Promise.all([Promise.all(pending), Promise.all(this.applied)]);
    sumSlots(this.slots.slice(0, parts.length), this.average);
    this.applied = this.workers.map((w) => w.request({ kind: 'apply' }));
    // observed at the next step or at dispose; until then a failure must not count as unhandled
    for (const applied of this.applied) applied.catch(() => undefined);
    applyFlatGradients(this.optimizer, this.variables, this.average);
    return addScores([own, ...others.map(replyScore)]);
  }

  /** Score of validation rows without dropout, split across the replicas. */
  async score(rows: number[]): Promise<Score> {
    const chunks = rowChunks(rows, this.o.parts).filter((chunk) => chunk.length > 0);
    const pending = chunks.slice(1).map((part, k) => this.workers[k]!.request({ kind: 'evaluate', rows: part }));
    const own = scoreShared(this.forward, this.o.val!, chunks[0]!);
    return addScores([own, ...(await Promise.all(pending)).map(replyScore)]);
  }

  /** The summed (whole-batch) gradients of the last step, flat in variable order. */
  get lastGradients(): Float32Array {
    return this.average;
  }

  /** Every worker's trainable weights, in this thread's variable order (to check the replicas agree). */
  async workerWeights(): Promise<Float32Array[][]> {
    return (await Promise.all(this.workers.map((w) => w.request({ kind: 'weights' })))).map((r) => r.weights!);
  }

  async dispose(): Promise<void> {
    await Promise.allSettled(this.applied);
    this.optimizer.dispose();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function replyScore(reply: ReplicaResponse): Score {
  return { lossSum: reply.lossSum!, right: reply.right! };
}

function rowChunks(rows: number[], parts: number): number[][] {
  let start = 0;
  return splitBatch(rows.length, parts).map((n) => rows.slice(start, (start += n)));
}

function partRequests(batch: StepBatch, parts: number): PartRequest[] {
  const positions = rowChunks([...batch.rows.keys()], parts);
  return positions.map((idx, k) => ({
    rows: idx.map((i) => batch.rows[i]!),
    classes: idx.map((i) => batch.classes[i]!),
    weight: idx.length / batch.rows.length,
    dropoutSeed: partDropoutSeed(batch.dropoutSeed, k),
  }));
}

/** The parts' gradients added in part order, so the sum is the same on every run. */
function sumSlots(slots: Float32Array[], out: Float32Array): void {
  out.set(slots[0]!);
  for (const slot of slots.slice(1)) for (let i = 0; i < out.length; i++) out[i]! += slot[i]!;
}

export interface ParallelPhaseOptions extends Omit<PhaseOptions, 'train' | 'val' | 'forward' | 'variables'> {
  train: SharedPhaseData;
  val?: SharedPhaseData;
  models: ReplicaModels;
  parts: number;
}

/**
 * `runPhase` split across `parts` threads: the same seeded batches, events and metrics; the batch's
 * gradient is the parts' weighted sum. Results depend on `parts` (float summation order and each
 * part's dropout masks), so `--seed` reproduces bit for bit only with the same number of parts.
 */
export async function runParallelPhase(o: ParallelPhaseOptions): Promise<EpochMetrics[]> {
  const group = await ReplicaGroup.start(o);
  return runPhase(o, { step: (batch) => group.step(batch), score: (rows) => group.score(rows), dispose: () => group.dispose() });
}
