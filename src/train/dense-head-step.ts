import type * as tfl from '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { Adam } from './onnx-adam.js';
import { dropoutMultipliers } from './onnx-step.js';
import { runPhase, scoreProbabilities, type EpochMetrics, type PhaseRun, type Stepper } from './phase.js';
import { packRows, type SharedTensor } from './replica.js';

/** A phase's rows of cached embeddings ([rows, dims]) and their classes. */
export interface DenseHeadData {
  inputs: SharedTensor;
  labels: number[];
  views: number;
}

export interface DenseHeadPhaseOptions extends Omit<PhaseRun, 'train' | 'val'> {
  /** Dropout -> Dense(softmax), as `buildEmbeddingHead` builds it; its weights are trained in place. */
  head: tfl.LayersModel;
  train: DenseHeadData;
  val?: DenseHeadData;
  learningRate: number;
}

/** Softmax of each row of `logits` ([rows, classes]), in place. */
function softmaxRows(logits: Float32Array, classes: number): void {
  for (let start = 0; start < logits.length; start += classes) {
    const row = logits.subarray(start, start + classes);
    const max = row.reduce((m, v) => Math.max(m, v), -Infinity);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += row[k] = Math.exp(row[k]! - max);
    for (let k = 0; k < classes; k++) row[k]! /= sum;
  }
}

/** x [rows, dims] times kernel [dims, classes] plus bias, through softmax (sums in float64, one float32 store each). */
function probabilities(x: Float32Array, rows: number, kernel: Float32Array, bias: Float32Array): Float32Array {
  const classes = bias.length;
  const dims = kernel.length / classes;
  const out = new Float32Array(rows * classes);
  const z = new Float64Array(classes);
  for (let r = 0; r < rows; r++) {
    z.set(bias);
    for (let d = 0; d < dims; d++) {
      const xv = x[r * dims + d]!;
      if (xv === 0) continue;
      const at = d * classes;
      for (let k = 0; k < classes; k++) z[k]! += xv * kernel[at + k]!;
    }
    out.set(z, r * classes);
  }
  softmaxRows(out, classes);
  return out;
}

/**
 * The gradients of Keras' clipped categorical cross-entropy (mean over the batch) through the
 * softmax: (p - onehot) / rows for the logits of each row, except a row whose true-class
 * probability is outside the clip range [1e-7, 1 - 1e-7], whose gradient the clip stops (as in tfjs).
 */
function denseGradients(x: Float32Array, probs: Float32Array, classes: number[], kernel: Float32Array, bias: Float32Array): [Float32Array, Float32Array] {
  const width = bias.length;
  const dims = kernel.length / width;
  const rows = classes.length;
  // float64 sums, stored once as float32: a float32 store per multiply-add cost more than the arithmetic
  const dKernel = new Float64Array(kernel.length);
  const dBias = new Float64Array(width);
  const dz = new Float64Array(width);
  for (let r = 0; r < rows; r++) {
    const c = classes[r]!;
    const pc = probs[r * width + c]!;
    if (pc <= 1e-7 || pc >= 1 - 1e-7) continue;
    for (let k = 0; k < width; k++) dz[k] = (probs[r * width + k]! - (k === c ? 1 : 0)) / rows;
    for (let k = 0; k < width; k++) dBias[k]! += dz[k]!;
    for (let d = 0; d < dims; d++) {
      const xv = x[r * dims + d]!;
      if (xv === 0) continue;
      const at = d * width;
      for (let k = 0; k < width; k++) dKernel[at + k]! += xv * dz[k]!;
    }
  }
  return [Float32Array.from(dKernel), Float32Array.from(dBias)];
}

/**
 * Dropout -> Dense(softmax) trained with Adam in plain JS: for a few people a head on 192-d
 * embeddings is about a thousand multiply-adds a row, where TF.js spent milliseconds a step
 * dispatching its ops (large heads stay on TF.js, see `trainEmbeddingHead`). Dropout masks come
 * from the batch's seed (`dropoutMultipliers`, as the ONNX trainer draws them).
 */
function denseHeadStepper(o: DenseHeadPhaseOptions): Stepper {
  const dense = o.head.layers.find((l) => l.getClassName() === 'Dense')!;
  const dropout = o.head.layers.find((l) => l.getClassName() === 'Dropout');
  const rate = dropout ? (dropout.getConfig() as { rate: number }).rate : 0;
  const variables = dense.trainableWeights;
  const [kernel, bias] = variables.map((v) => Float32Array.from(v.read().dataSync() as Float32Array)) as [Float32Array, Float32Array];
  const dims = kernel.length / bias.length;
  const adam = new Adam([kernel.length, bias.length], o.learningRate);
  return {
    step: async ({ rows, classes, dropoutSeed }) => {
      const [x] = packRows([o.train.inputs], rows) as [Float32Array];
      if (rate > 0) {
        const [mask] = dropoutMultipliers([{ name: 'dropout', shape: [dims], rate }], rows.length, dropoutSeed) as [Float32Array];
        for (let i = 0; i < x.length; i++) x[i]! *= mask[i]!;
      }
      const probs = probabilities(x, rows.length, kernel, bias);
      adam.apply([kernel, bias], denseGradients(x, probs, classes, kernel, bias));
      return scoreProbabilities(probs, classes);
    },
    score: async (rows) => {
      const val = o.val!;
      const [x] = packRows([val.inputs], rows) as [Float32Array];
      return scoreProbabilities(probabilities(x, rows.length, kernel, bias), rows.map((r) => val.labels[r]!));
    },
    finish: () => tf.tidy(() => variables.forEach((v, k) => v.write(tf.tensor([kernel, bias][k]!, v.shape as number[])))),
    dispose: async () => undefined,
  };
}

/** One training phase of an embedding head in plain JS: the seeded batches, events and metrics of `runPhase`. */
export function runDenseHeadPhase(o: DenseHeadPhaseOptions): Promise<EpochMetrics[]> {
  return runPhase(o, denseHeadStepper(o));
}
