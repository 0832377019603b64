import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../src/tfjs/backend.js';
import { fileSystemIO } from '../src/tfjs/model-io.js';
import { splitAtLayer } from '../src/graph/split.js';
import { buildClassicHead } from '../src/base/mobilenetv2/head.js';
import { readImageFile, resizeSquare, type RgbImage } from '../src/image/decode.js';
import { toMobileNetInput } from '../src/base/mobilenetv2/features.js';
import { runTfjsPhase } from '../src/train/loop.js';
import { phaseSchedule, type EpochMetrics } from '../src/train/phase.js';
import { ReplicaGroup, runParallelPhase } from '../src/train/parallel.js';
import { replicaForward, replicaWeights, shareTensor, variablesOf, type ReplicaModels, type SharedPhaseData } from '../src/train/replica.js';
import { FIVE_CELEBRITIES, MOBILENET_035_DIR, needsShared } from './support/shared.js';

await initEngine('wasm');

const PEOPLE = ['madonna', 'elton_john'];
const FINE_TUNE_AT = 100;

/** A fresh replica of the fine-tune network: the shared alpha 0.35 MobileNetV2 split at 100, plus a seeded head. */
async function network(dropout: number): Promise<ReplicaModels & { frozen: tfl.LayersModel }> {
  const base = await tfl.loadLayersModel(fileSystemIO(MOBILENET_035_DIR));
  const { frozen, tail } = splitAtLayer(base, FINE_TUNE_AT);
  const head = buildClassicHead({ numClasses: PEOPLE.length, inputShape: base.outputs[0]!.shape.slice(1) as number[], dropout, seed: 5 });
  return { frozen, tail, head };
}

const weightsOf = (models: ReplicaModels) => variablesOf(replicaWeights(models)).map((v) => v.dataSync() as Float32Array);

/** Largest |actual - expected| over a variable, relative to that variable's largest |expected|. */
function maxRelativeError(actual: Float32Array[], expected: Float32Array[]): number {
  return Math.max(...expected.map((e, k) => {
    const scale = e.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
    return actual[k]!.reduce((m, v, i) => Math.max(m, Math.abs(v - e[i]!)), 0) / scale;
  }));
}

function splitFlat(flat: Float32Array, like: Float32Array[]): Float32Array[] {
  let offset = 0;
  return like.map((l) => flat.slice(offset, (offset += l.length)));
}

let data: SharedPhaseData;

before(async () => {
  if (needsShared) return;
  const images: RgbImage[] = [];
  const labels: number[] = [];
  for (const [label, person] of PEOPLE.entries()) {
    const dir = path.join(FIVE_CELEBRITIES, 'train', person);
    for (const file of (await readdir(dir)).sort().slice(0, 5)) {
      images.push(await resizeSquare(await readImageFile(path.join(dir, file)), 224));
      labels.push(label);
    }
  }
  const { frozen } = await network(0);
  const boundary = tf.tidy(() => frozen.predict(toMobileNetInput(images)) as tf.Tensor[]);
  data = { inputs: boundary.map(shareTensor), labels, views: 1 };
  tf.dispose(boundary);
});

test('a data-parallel step equals the single-thread full-batch step, and the replicas stay identical', { skip: needsShared }, async () => {
  const options = { name: 'fine-tune', seed: 9, batchSize: 5, numClasses: PEOPLE.length, learningRate: 1e-3 };
  const reference = await network(0);
  const parallel = await network(0);
  const initial = weightsOf(reference);
  const batches = phaseSchedule({ ...options, train: data })();
  assert.equal(batches.length, 2);

  // single thread: the whole batch's gradient, then the whole epoch with runTfjsPhase
  const forward = replicaForward(reference);
  const first = batches[0]!;
  const inputs = data.inputs.map(({ shape, values }) => tf.tensor(values, shape));
  const { grads } = tf.variableGrads(() => {
    const probs = forward(inputs.map((t) => tf.gather(t, first.rows)));
    const y = tf.oneHot(first.photoIdx.map((p) => data.labels[p]!), PEOPLE.length);
    return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(tf.clipByValue(probs, 1e-7, 1 - 1e-7))), -1))) as tf.Scalar;
  }, variablesOf(replicaWeights(reference)));
  const expectedGradients = variablesOf(replicaWeights(reference)).map((v) => grads[v.name]!.dataSync() as Float32Array);
  tf.dispose(Object.values(grads));
  await runTfjsPhase({
    ...options,
    epochs: 1,
    train: { inputs, labels: data.labels, views: 1 },
    forward,
    variables: variablesOf(replicaWeights(reference)),
  });
  tf.dispose(inputs);

  // two parts (2 + 3 rows): this thread and one worker
  const group = await ReplicaGroup.start({ ...options, models: parallel, train: data, parts: 2 });
  try {
    for (const [i, batch] of batches.entries()) {
      await group.step({ rows: batch.rows, classes: batch.photoIdx.map((p) => data.labels[p]!), dropoutSeed: batch.dropoutSeed });
      if (i === 0) {
        const gradientError = maxRelativeError(splitFlat(group.lastGradients, expectedGradients), expectedGradients);
        assert.ok(gradientError <= 1e-4, `summed part gradients vs whole-batch gradient: max relative error ${gradientError}`);
      }
    }
    const trained = weightsOf(parallel);
    const expected = weightsOf(reference);
    const weightError = maxRelativeError(trained, expected);
    // the updates too, as weights move little in two steps; looser, because Adam divides by sqrt(v) + 1e-7,
    // which magnifies rounding differences of near-zero gradients (a wrong step is off by O(1))
    const updateError = maxRelativeError(trained.map((w, k) => w.map((v, i) => v - initial[k]![i]!)), expected.map((w, k) => w.map((v, i) => v - initial[k]![i]!)));
    assert.ok(weightError <= 1e-4, `updated weights, data-parallel vs single thread: max relative error ${weightError}`);
    assert.ok(updateError <= 1e-2, `weight updates, data-parallel vs single thread: max relative error ${updateError}`);
    const [workerWeights] = await group.workerWeights();
    workerWeights!.forEach((w, k) => assert.ok(Buffer.from(w.buffer).equals(Buffer.from(trained[k]!.buffer)), `replica weight ${k} identical`));
  } finally {
    await group.dispose();
  }
});

test('a data-parallel phase with dropout reproduces its weights bit for bit, with metrics and events', { skip: needsShared }, async () => {
  const run = async () => {
    const models = await network(0.2);
    const batches: number[] = [];
    const epochs: EpochMetrics[] = [];
    const history = await runParallelPhase({
      name: 'fine-tune', seed: 4, batchSize: 4, numClasses: PEOPLE.length, learningRate: 1e-4, epochs: 2, parts: 2,
      train: data, val: data, models,
      onBatch: (e) => batches.push(e.batch),
      onEpoch: (m) => epochs.push(m),
    });
    return { weights: weightsOf(models), history, batches, epochs };
  };
  const a = await run();
  const b = await run();
  assert.deepEqual(a.batches, [1, 2, 3, 1, 2, 3]);
  assert.equal(a.epochs.length, 2);
  assert.deepEqual(a.history, a.epochs);
  for (const m of a.history) {
    assert.ok(m.loss > 0 && Number.isFinite(m.loss) && m.accuracy >= 0 && m.accuracy <= 1, JSON.stringify(m));
    assert.ok(m.valLoss !== undefined && m.valAccuracy !== undefined, 'validation metrics');
  }
  a.weights.forEach((w, k) => assert.ok(Buffer.from(w.buffer).equals(Buffer.from(b.weights[k]!.buffer)), `weight ${k} identical run to run`));
});
