import * as tf from '@tensorflow/tfjs-core';
import { childSeed, createRandom, shuffled } from '../util/random.js';

export interface EpochMetrics {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  ms: number;
}

export interface PhaseData {
  /** Cached inputs of the trainable part, one tensor per input, first axis = views x photos. */
  inputs: tf.Tensor[];
  /** Class index of each photo. */
  labels: number[];
  /** How many cached views each photo has (row of photo p, view v = v * photos + p). */
  views: number;
}

export interface PhaseOptions {
  name: string;
  train: PhaseData;
  val?: PhaseData;
  numClasses: number;
  /** Maps cached inputs to class probabilities; `dropoutSeed` is set only while training. */
  forward: (inputs: tf.Tensor[], dropoutSeed?: number) => tf.Tensor;
  variables: tf.Variable[];
  learningRate: number;
  epochs: number;
  batchSize: number;
  seed: number;
  onBatch?: (e: { epoch: number; batch: number; batches: number; loss: number }) => void;
  onEpoch?: (m: EpochMetrics) => void;
}

/** Keras' categorical cross-entropy on probabilities (clipped as Keras does). */
export function categoricalCrossEntropy(labels: tf.Tensor, probs: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.log(tf.clipByValue(probs, 1e-7, 1 - 1e-7))), -1))) as tf.Scalar);
}

function gatherRows(inputs: tf.Tensor[], rows: number[]): tf.Tensor[] {
  const idx = tf.tensor1d(rows, 'int32');
  const out = inputs.map((t) => tf.gather(t, idx));
  idx.dispose();
  return out;
}

/** Loss and accuracy over all rows without dropout, in batches to bound memory. */
export function evaluatePhase(data: PhaseData, forward: PhaseOptions['forward'], numClasses: number, batchSize: number): { loss: number; accuracy: number } {
  const count = data.labels.length;
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < count; start += batchSize) {
    const rows = data.labels.slice(start, start + batchSize).map((_, i) => start + i);
    const [loss, right] = tf.tidy(() => {
      const probs = forward(gatherRows(data.inputs, rows));
      const y = tf.oneHot(rows.map((r) => data.labels[r]!), numClasses);
      return [tf.mul(categoricalCrossEntropy(y, probs), rows.length), tf.sum(tf.equal(tf.argMax(probs, -1), tf.argMax(y, -1)))];
    });
    lossSum += (loss.dataSync()[0] ?? 0);
    correct += right.dataSync()[0] ?? 0;
    tf.dispose([loss, right]);
  }
  return { loss: lossSum / count, accuracy: correct / count };
}

/**
 * One training phase with Adam: each epoch sees every photo once, through one of its cached
 * views chosen by the seeded stream, in a seeded order.
 */
export function runPhase(o: PhaseOptions): EpochMetrics[] {
  const optimizer = tf.train.adam(o.learningRate);
  const random = createRandom(childSeed(o.seed, o.name));
  const photos = o.train.labels.length;
  const history: EpochMetrics[] = [];
  let step = 0;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const started = performance.now();
    const order = shuffled([...Array(photos).keys()], random);
    const batches = Math.ceil(photos / o.batchSize);
    let lossSum = 0;
    let correct = 0;
    for (let b = 0; b < batches; b++) {
      const photoIdx = order.slice(b * o.batchSize, (b + 1) * o.batchSize);
      const rows = photoIdx.map((p) => Math.floor(random() * o.train.views) * photos + p);
      const dropoutSeed = childSeed(o.seed, `${o.name}:dropout:${step++}`);
      const { loss, right } = tf.tidy(() => {
        const x = gatherRows(o.train.inputs, rows);
        const y = tf.oneHot(photoIdx.map((p) => o.train.labels[p]!), o.numClasses);
        let probs: tf.Tensor | undefined;
        const value = optimizer.minimize(() => {
          // kept: minimize disposes its intermediates, and accuracy needs these probabilities
          probs = tf.keep(o.forward(x, dropoutSeed));
          return categoricalCrossEntropy(y, probs);
        }, true, o.variables)!;
        const hits = tf.sum(tf.equal(tf.argMax(probs!, -1), tf.argMax(y, -1)));
        probs!.dispose();
        return { loss: value, right: hits };
      });
      const batchLoss = loss.dataSync()[0] ?? 0;
      lossSum += batchLoss * photoIdx.length;
      correct += right.dataSync()[0] ?? 0;
      tf.dispose([loss, right]);
      o.onBatch?.({ epoch, batch: b + 1, batches, loss: batchLoss });
    }
    const metrics: EpochMetrics = { epoch, loss: lossSum / photos, accuracy: correct / photos, ms: 0 };
    if (o.val && o.val.labels.length > 0) {
      const val = evaluatePhase(o.val, o.forward, o.numClasses, o.batchSize);
      metrics.valLoss = val.loss;
      metrics.valAccuracy = val.accuracy;
    }
    metrics.ms = performance.now() - started;
    history.push(metrics);
    o.onEpoch?.(metrics);
  }
  optimizer.dispose();
  return history;
}
