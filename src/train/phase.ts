import { childSeed, createRandom, shuffled } from '../util/random.js';

/**
 * One training phase on any runtime: the seeded schedule of batches, the events and metrics, and
 * one validator. What differs between runtimes (TF.js on this thread, wasm replicas on worker
 * threads, onnxruntime) is only a `Stepper`: how one batch is trained and how rows are scored.
 */

export interface EpochMetrics {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  ms: number;
}

/** Loss sum (so that parts and batches add up) and right answers over some rows. */
export interface Score {
  lossSum: number;
  right: number;
}

/** One batch as a stepper trains it: rows of the cached inputs, their classes, the seed of its dropout masks. */
export interface StepBatch {
  rows: number[];
  classes: number[];
  dropoutSeed: number;
}

export interface Stepper {
  /** One optimiser step on the batch; the batch's score at the weights before the step. */
  step(batch: StepBatch): Promise<Score>;
  /** Scores validation rows (at most a batch) without dropout. */
  score(rows: number[]): Promise<Score>;
  /** After the last epoch, before `dispose` (e.g. copies trained weights back into the models). */
  finish?(): void;
  dispose(): Promise<void>;
}

/** Clipped cross-entropy (as Keras' categorical cross-entropy clips) and right answers of [rows, classes] probabilities. */
export function scoreProbabilities(probabilities: Float32Array, classes: number[]): Score {
  const width = probabilities.length / classes.length;
  let lossSum = 0;
  let right = 0;
  classes.forEach((c, i) => {
    const row = probabilities.subarray(i * width, (i + 1) * width);
    lossSum -= Math.log(Math.min(Math.max(row[c]!, 1e-7), 1 - 1e-7));
    let best = 0;
    for (let k = 1; k < width; k++) if (row[k]! > row[best]!) best = k;
    if (best === c) right++;
  });
  return { lossSum, right };
}

export function addScores(scores: Score[]): Score {
  return scores.reduce((total, s) => ({ lossSum: total.lossSum + s.lossSum, right: total.right + s.right }), { lossSum: 0, right: 0 });
}

/** Labels and views of the training rows (row of photo p, view v = v * photos + p). */
interface TrainRows {
  labels: number[];
  views: number;
}

export interface PhaseRun {
  name: string;
  train: TrainRows;
  /** Validation rows 0..labels.length-1, scored after every epoch when there are any. */
  val?: { labels: number[] };
  epochs: number;
  batchSize: number;
  seed: number;
  onBatch?: (e: { epoch: number; batch: number; batches: number; loss: number }) => void;
  onEpoch?: (m: EpochMetrics) => void;
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
export function phaseSchedule(o: Pick<PhaseRun, 'name' | 'seed' | 'batchSize' | 'train'>): () => PlannedBatch[] {
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

/** The one validator: every validation row once, in batches, loss and accuracy over all of them. */
export async function validate(stepper: Stepper, count: number, batchSize: number): Promise<{ loss: number; accuracy: number }> {
  const scores: Score[] = [];
  for (let start = 0; start < count; start += batchSize) {
    scores.push(await stepper.score(Array.from({ length: Math.min(batchSize, count - start) }, (_, i) => start + i)));
  }
  const total = addScores(scores);
  return { loss: total.lossSum / count, accuracy: total.right / count };
}

/** Runs a phase with `stepper` (disposed at the end, also on failure): batches as `phaseSchedule` plans them. */
export async function runPhase(o: PhaseRun, stepper: Stepper): Promise<EpochMetrics[]> {
  try {
    const nextEpoch = phaseSchedule(o);
    const photos = o.train.labels.length;
    const history: EpochMetrics[] = [];
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const started = performance.now();
      const batches = nextEpoch();
      const scores: Score[] = [];
      for (const { batch, photoIdx, rows, dropoutSeed } of batches) {
        const score = await stepper.step({ rows, classes: photoIdx.map((p) => o.train.labels[p]!), dropoutSeed });
        scores.push(score);
        o.onBatch?.({ epoch, batch, batches: batches.length, loss: score.lossSum / rows.length });
      }
      const total = addScores(scores);
      const metrics: EpochMetrics = { epoch, loss: total.lossSum / photos, accuracy: total.right / photos, ms: 0 };
      if (o.val && o.val.labels.length > 0) {
        const val = await validate(stepper, o.val.labels.length, o.batchSize);
        metrics.valLoss = val.loss;
        metrics.valAccuracy = val.accuracy;
      }
      metrics.ms = performance.now() - started;
      history.push(metrics);
      o.onEpoch?.(metrics);
    }
    stepper.finish?.();
    return history;
  } finally {
    await stepper.dispose();
  }
}
