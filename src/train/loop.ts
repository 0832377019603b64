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

export function gatherRows(inputs: tf.Tensor[], rows: number[]): tf.Tensor[] {
  const idx = tf.tensor1d(rows, 'int32');
  const out = inputs.map((t) => tf.gather(t, idx));
  idx.dispose();
  return out;
}

/** Loss times rows (so parts add up) and the number of right answers, for probabilities of known classes. */
export function scoreRows(probs: tf.Tensor, classes: number[], numClasses: number): { lossSum: tf.Scalar; right: tf.Scalar } {
  return tf.tidy(() => {
    const y = tf.oneHot(classes, numClasses);
    return { lossSum: tf.mul(categoricalCrossEntropy(y, probs), classes.length), right: tf.sum(tf.equal(tf.argMax(probs, -1), tf.argMax(y, -1))) };
  });
}

/** Reads and frees the two scalars of `scoreRows`. */
export function readScore(score: { lossSum: tf.Scalar; right: tf.Scalar }): { lossSum: number; right: number } {
  const out = { lossSum: score.lossSum.dataSync()[0] ?? 0, right: score.right.dataSync()[0] ?? 0 };
  tf.dispose([score.lossSum, score.right]);
  return out;
}

/** Loss and accuracy over all rows without dropout, in batches to bound memory. */
export function evaluatePhase(data: PhaseData, forward: PhaseOptions['forward'], numClasses: number, batchSize: number): { loss: number; accuracy: number } {
  const count = data.labels.length;
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < count; start += batchSize) {
    const rows = data.labels.slice(start, start + batchSize).map((_, i) => start + i);
    const score = readScore(tf.tidy(() => scoreRows(forward(gatherRows(data.inputs, rows)), rows.map((r) => data.labels[r]!), numClasses)));
    lossSum += score.lossSum;
    correct += score.right;
  }
  return { loss: lossSum / count, accuracy: correct / count };
}

/** One batch of a phase: which photos, through which cached rows, and the seed of its dropout masks. */
export interface PlannedBatch {
  /** 1-based, as events report it. */
  batch: number;
  photoIdx: number[];
  rows: number[];
  dropoutSeed: number;
}

/**
 * The seeded schedule of a phase: each call plans the next epoch, in which every photo is seen once,
 * through one of its cached views chosen by the seeded stream, in a seeded order.
 */
export function phaseSchedule(o: Pick<PhaseOptions, 'name' | 'seed' | 'batchSize'> & { train: Pick<PhaseData, 'labels' | 'views'> }): () => PlannedBatch[] {
  const random = createRandom(childSeed(o.seed, o.name));
  const photos = o.train.labels.length;
  let step = 0;
  return () => {
    const order = shuffled([...Array(photos).keys()], random);
    return Array.from({ length: Math.ceil(photos / o.batchSize) }, (_, b) => {
      const photoIdx = order.slice(b * o.batchSize, (b + 1) * o.batchSize);
      const rows = photoIdx.map((p) => Math.floor(random() * o.train.views) * photos + p);
      return { batch: b + 1, photoIdx, rows, dropoutSeed: childSeed(o.seed, `${o.name}:dropout:${step++}`) };
    });
  };
}

type LoopOptions = Pick<PhaseOptions, 'name' | 'seed' | 'batchSize' | 'epochs' | 'onBatch' | 'onEpoch'> & { train: Pick<PhaseData, 'labels' | 'views'> };

/** One epoch in progress: its planned batches, and where their scores go. */
export interface EpochRun {
  batches: PlannedBatch[];
  /** Adds a trained batch's loss sum and hits, and reports the batch. */
  record(batch: PlannedBatch, score: { lossSum: number; right: number }): void;
  /** Reports the epoch's metrics, with validation ones when given. */
  finish(val?: { loss: number; accuracy: number }): void;
}

/**
 * The epochs of a phase, for either runner: each is planned by `phaseSchedule`, and its scores become
 * onBatch/onEpoch events and the metrics pushed onto `history`.
 */
export function* phaseEpochs(o: LoopOptions, history: EpochMetrics[]): Generator<EpochRun> {
  const nextEpoch = phaseSchedule(o);
  const photos = o.train.labels.length;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const started = performance.now();
    const batches = nextEpoch();
    let lossSum = 0;
    let correct = 0;
    yield {
      batches,
      record: ({ batch, rows }, score) => {
        lossSum += score.lossSum;
        correct += score.right;
        o.onBatch?.({ epoch, batch, batches: batches.length, loss: score.lossSum / rows.length });
      },
      finish: (val) => {
        const metrics: EpochMetrics = { epoch, loss: lossSum / photos, accuracy: correct / photos, ms: 0 };
        if (val) {
          metrics.valLoss = val.loss;
          metrics.valAccuracy = val.accuracy;
        }
        metrics.ms = performance.now() - started;
        history.push(metrics);
        o.onEpoch?.(metrics);
      },
    };
  }
}

/** One training phase with Adam on this thread, batches as `phaseSchedule` plans them. */
export function runPhase(o: PhaseOptions): EpochMetrics[] {
  const optimizer = tf.train.adam(o.learningRate);
  const history: EpochMetrics[] = [];
  for (const run of phaseEpochs(o, history)) {
    for (const planned of run.batches) {
      const classes = planned.photoIdx.map((p) => o.train.labels[p]!);
      run.record(planned, readScore(tf.tidy(() => {
        const x = gatherRows(o.train.inputs, planned.rows);
        let probs: tf.Tensor | undefined;
        optimizer.minimize(() => {
          // kept: minimize disposes its intermediates, and the score needs these probabilities
          probs = tf.keep(o.forward(x, planned.dropoutSeed));
          return categoricalCrossEntropy(tf.oneHot(classes, o.numClasses), probs);
        }, false, o.variables);
        const scored = scoreRows(probs!, classes, o.numClasses);
        probs!.dispose();
        return scored;
      })));
    }
    run.finish(o.val && o.val.labels.length > 0 ? evaluatePhase(o.val, o.forward, o.numClasses, o.batchSize) : undefined);
  }
  optimizer.dispose();
  return history;
}
