import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { applyHead } from './head.js';
import { childSeed } from '../util/random.js';
import { categoricalCrossEntropy, scoreTensor } from './loop.js';
import type { Score } from './phase.js';

/** A cached float32 tensor in a SharedArrayBuffer: every thread reads the same memory, none gets a copy. */
export interface SharedTensor {
  shape: number[];
  values: Float32Array;
}

/** Like PhaseData, with inputs every training thread can read. */
export interface SharedPhaseData {
  inputs: SharedTensor[];
  labels: number[];
  views: number;
}

/** What one replica trains: `head` on the outputs of `tail` (BatchNorm in inference mode), or on the inputs when there is no tail. */
export interface ReplicaModels {
  tail?: tfl.LayersModel;
  head: tfl.LayersModel;
}

export function shareTensor(t: tf.Tensor): SharedTensor {
  const values = new Float32Array(new SharedArrayBuffer(t.size * Float32Array.BYTES_PER_ELEMENT));
  values.set(t.dataSync());
  return { shape: t.shape, values };
}

/** The given rows of each cached tensor, packed. */
export function packRows(inputs: SharedTensor[], rows: number[]): Float32Array[] {
  return inputs.map(({ shape, values }) => {
    const rowSize = values.length / shape[0]!;
    const out = new Float32Array(rows.length * rowSize);
    rows.forEach((r, i) => out.set(values.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize));
    return out;
  });
}

/** The given rows of each input as fresh tensors (only these rows are copied into the backend). */
export function gatherSharedRows(inputs: SharedTensor[], rows: number[]): tf.Tensor[] {
  return packRows(inputs, rows).map((values, k) => tf.tensor(values, [rows.length, ...inputs[k]!.shape.slice(1)]));
}

export type ReplicaForward = (inputs: tf.Tensor[], dropoutSeed?: number) => tf.Tensor;

export function replicaForward({ tail, head }: ReplicaModels): ReplicaForward {
  // training: false keeps BatchNorm on its moving statistics, as Keras does for a base called with training=False
  return (inputs, dropoutSeed) => applyHead(head, tail ? (tail.apply(inputs, { training: false }) as tf.Tensor) : inputs[0]!, dropoutSeed);
}

/** Trainable weights in a fixed order, the same on every replica. */
export function replicaWeights({ tail, head }: ReplicaModels): tfl.LayerVariable[] {
  return [...(tail?.trainableWeights ?? []), ...head.trainableWeights];
}

export function variablesOf(weights: tfl.LayerVariable[]): tf.Variable[] {
  return weights.map((w) => (w as unknown as { val: tf.Variable }).val);
}

/** Part 0 keeps the step's seed, so one part draws the masks a single-thread step draws. */
export function partDropoutSeed(stepSeed: number, part: number): number {
  return part === 0 ? stepSeed : childSeed(stepSeed, `part:${part}`);
}

export interface PartRequest {
  rows: number[];
  classes: number[];
  /** This part's rows over the whole batch's rows: the part's mean loss times this adds up to the batch mean. */
  weight: number;
  dropoutSeed: number;
}

/**
 * Gradients of one part of a batch, weighted so that the parts' gradients add up to the whole
 * batch's, written flat (variable after variable) into `out`. Returns the part's loss sum and hits.
 */
export function partGradients(
  forward: ReplicaForward, variables: tf.Variable[], data: SharedTensor[], numClasses: number, request: PartRequest, out: Float32Array,
): Score {
  const probs = tf.tidy(() => {
    const x = gatherSharedRows(data, request.rows);
    let kept: tf.Tensor | undefined;
    const { grads } = tf.variableGrads(() => {
      kept = tf.keep(forward(x, request.dropoutSeed));
      return tf.mul(categoricalCrossEntropy(tf.oneHot(request.classes, numClasses), kept), request.weight) as tf.Scalar;
    }, variables);
    let offset = 0;
    for (const v of variables) {
      const g = grads[v.name];
      if (g === undefined) throw new Error(`no gradient reaches ${v.name}`);
      out.set(g.dataSync(), offset);
      offset += v.size;
    }
    return kept!;
  });
  return scoreTensor(probs, request.classes);
}

/** Applies flat gradients (as `partGradients` lays them out): the same inputs give every replica the same update. */
export function applyFlatGradients(optimizer: tf.Optimizer, variables: tf.Variable[], flat: Float32Array): void {
  let offset = 0;
  const named = variables.map((v) => {
    const tensor = tf.tensor(flat.slice(offset, offset + v.size), v.shape);
    offset += v.size;
    return { name: v.name, tensor };
  });
  optimizer.applyGradients(named);
  tf.dispose(named.map((n) => n.tensor));
}

/** Score of validation rows without dropout. */
export function scoreShared(forward: ReplicaForward, data: SharedPhaseData, rows: number[]): Score {
  return scoreTensor(tf.tidy(() => forward(gatherSharedRows(data.inputs, rows))), rows.map((r) => data.labels[r]!));
}

export function flatSize(variables: tf.Variable[]): number {
  return variables.reduce((n, v) => n + v.size, 0);
}
