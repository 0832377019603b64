import * as tf from '@tensorflow/tfjs-core';
import { runPhase, scoreProbabilities, type EpochMetrics, type PhaseRun, type Score, type Stepper } from './phase.js';

export interface PhaseData {
  /** Cached inputs of the trainable part, one tensor per input, first axis = views x photos. */
  inputs: tf.Tensor[];
  /** Class index of each photo. */
  labels: number[];
  /** How many cached views each photo has (row of photo p, view v = v * photos + p). */
  views: number;
}

export interface PhaseOptions extends Omit<PhaseRun, 'train' | 'val'> {
  train: PhaseData;
  val?: PhaseData;
  numClasses: number;
  /** Maps cached inputs to class probabilities; `dropoutSeed` is set only while training. */
  forward: (inputs: tf.Tensor[], dropoutSeed?: number) => tf.Tensor;
  variables: tf.Variable[];
  learningRate: number;
}

/** Keras' categorical cross-entropy on probabilities (clipped as Keras does). */
export function categoricalCrossEntropy(labels: tf.Tensor, probs: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.log(tf.clipByValue(probs, 1e-7, 1 - 1e-7))), -1))) as tf.Scalar);
}

export function gatherRows(inputs: tf.Tensor[], rows: number[]): tf.Tensor[] {
  const idx = tf.tensor1d(rows, 'int32');
  const out = inputs.map((t) => tf.gather(t, idx));
  idx.dispose();
  return out;
}

/** Scores and frees probabilities of known classes. */
export function scoreTensor(probs: tf.Tensor, classes: number[]): Score {
  const score = scoreProbabilities(probs.dataSync() as Float32Array, classes);
  probs.dispose();
  return score;
}

/** Adam on this thread's TF.js backend. */
function tfjsStepper(o: PhaseOptions): Stepper {
  const optimizer = tf.train.adam(o.learningRate);
  return {
    step: async ({ rows, classes, dropoutSeed }) => {
      const probs = tf.tidy(() => {
        const x = gatherRows(o.train.inputs, rows);
        let kept: tf.Tensor | undefined;
        optimizer.minimize(() => {
          // kept: minimize disposes its intermediates, and the score needs these probabilities
          kept = tf.keep(o.forward(x, dropoutSeed));
          return categoricalCrossEntropy(tf.oneHot(classes, o.numClasses), kept);
        }, false, o.variables);
        return kept!;
      });
      return scoreTensor(probs, classes);
    },
    score: async (rows) => {
      const val = o.val!;
      return scoreTensor(tf.tidy(() => o.forward(gatherRows(val.inputs, rows))), rows.map((r) => val.labels[r]!));
    },
    dispose: async () => optimizer.dispose(),
  };
}

/** One training phase with Adam on this thread. */
export function runTfjsPhase(o: PhaseOptions): Promise<EpochMetrics[]> {
  return runPhase(o, tfjsStepper(o));
}
