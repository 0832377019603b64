import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/tfjs/backend.js';
import { applyHead, buildEmbeddingHead } from '../../src/train/head.js';
import { runTfjsPhase } from '../../src/train/loop.js';
import { runDenseHeadPhase } from '../../src/train/dense-head-step.js';
import { variablesOf } from '../../src/train/replica.js';
import { createRandom } from '../../src/util/random.js';
import { trainEmbeddingHead } from '../../src/train/embedding.js';
import { encodeVector, type GalleryEntry } from '../../src/model-dir/gallery.js';

/** Unit-length rows around one random centre per class: separable, like face embeddings of a few people. */
function clusteredRows(classes: number, perClass: number, dims: number, seed: number): { values: Float32Array; labels: number[] } {
  const random = createRandom(seed);
  const centres = Array.from({ length: classes }, () => Array.from({ length: dims }, () => random() - 0.5));
  const values = new Float32Array(classes * perClass * dims);
  const labels: number[] = [];
  for (let i = 0; i < classes * perClass; i++) {
    const row = centres[i % classes]!.map((c) => c + 0.3 * (random() - 0.5));
    const norm = Math.hypot(...row);
    values.set(row.map((v) => v / norm), i * dims);
    labels.push(i % classes);
  }
  return { values, labels };
}

const run = { name: 'head', epochs: 8, batchSize: 16, seed: 7 };
const dims = 24;
const classes = 4;

test('without dropout, the plain-JS head ends with the weights and metrics TF.js gives', async () => {
  await initEngine();
  const train = clusteredRows(classes, 13, dims, 1);
  const val = clusteredRows(classes, 5, dims, 2);
  const learningRate = 1e-2;
  const tfjsHead = buildEmbeddingHead({ numClasses: classes, inputShape: [dims], dropout: 0, seed: 3 });
  const trainTensor = tf.tensor2d(train.values, [train.labels.length, dims]);
  const valTensor = tf.tensor2d(val.values, [val.labels.length, dims]);
  const tfjsEpochs = await runTfjsPhase({
    ...run,
    train: { inputs: [trainTensor], labels: train.labels, views: 1 },
    val: { inputs: [valTensor], labels: val.labels, views: 1 },
    numClasses: classes,
    forward: ([x], seed) => applyHead(tfjsHead, x!, seed),
    variables: variablesOf(tfjsHead.trainableWeights),
    learningRate,
  });
  tf.dispose([trainTensor, valTensor]);
  const jsHead = buildEmbeddingHead({ numClasses: classes, inputShape: [dims], dropout: 0, seed: 3 });
  const jsEpochs = await runDenseHeadPhase({
    ...run,
    head: jsHead,
    train: { inputs: { shape: [train.labels.length, dims], values: train.values }, labels: train.labels, views: 1 },
    val: { inputs: { shape: [val.labels.length, dims], values: val.values }, labels: val.labels, views: 1 },
    learningRate,
  });
  jsEpochs.forEach((m, i) => {
    const expected = tfjsEpochs[i]!;
    assert.ok(Math.abs(m.loss - expected.loss) < 1e-4 && Math.abs(m.valLoss! - expected.valLoss!) < 1e-4, `epoch ${m.epoch}: loss ${m.loss} / ${expected.loss}, val ${m.valLoss} / ${expected.valLoss}`);
    assert.equal(m.accuracy, expected.accuracy);
    assert.equal(m.valAccuracy, expected.valAccuracy);
  });
  // the loss fell: the head learned, not merely matched an untrained one
  assert.ok(jsEpochs.at(-1)!.loss < jsEpochs[0]!.loss * 0.8, `${jsEpochs[0]!.loss} -> ${jsEpochs.at(-1)!.loss}`);
  jsHead.trainableWeights.forEach((w, k) => {
    const ours = w.read().dataSync() as Float32Array;
    const theirs = tfjsHead.trainableWeights[k]!.read().dataSync() as Float32Array;
    const worst = ours.reduce((m, v, i) => Math.max(m, Math.abs(v - theirs[i]!)), 0);
    assert.ok(worst < 1e-4, `${w.name}: largest difference ${worst}`);
  });
  jsHead.dispose();
  tfjsHead.dispose();
});

test('with dropout, the plain-JS head draws its masks from the batch seed: the same seed trains the same weights', async () => {
  await initEngine();
  const train = clusteredRows(classes, 13, dims, 1);
  const trainOnce = async () => {
    const head = buildEmbeddingHead({ numClasses: classes, inputShape: [dims], dropout: 0.5, seed: 3 });
    const epochs = await runDenseHeadPhase({ ...run, head, train: { inputs: { shape: [train.labels.length, dims], values: train.values }, labels: train.labels, views: 1 }, learningRate: 1e-2 });
    const weights = head.trainableWeights.map((w) => Array.from(w.read().dataSync()));
    head.dispose();
    return { epochs, weights };
  };
  const [first, second] = [await trainOnce(), await trainOnce()];
  assert.deepEqual(first.weights, second.weights);
  const undropped = buildEmbeddingHead({ numClasses: classes, inputShape: [dims], dropout: 0, seed: 3 });
  await runDenseHeadPhase({ ...run, head: undropped, train: { inputs: { shape: [train.labels.length, dims], values: train.values }, labels: train.labels, views: 1 }, learningRate: 1e-2 });
  assert.notDeepEqual(undropped.trainableWeights.map((w) => Array.from(w.read().dataSync())), first.weights, 'dropout changed nothing');
  undropped.dispose();
});

test('a head over the plain-JS size (530 people x 192 values) trains on TF.js: the loss falls and every person is learnt', async () => {
  await initEngine();
  const people = Array.from({ length: 530 }, (_, i) => `person-${i}`);
  const { values } = clusteredRows(people.length, 1, 192, 5);
  const entries: GalleryEntry[] = people.map((person, i) => ({ hash: person, person, file: `${person}.jpg`, split: 'train', faces: 1, views: [encodeVector(values.slice(i * 192, (i + 1) * 192))] }));
  const { head, history } = await trainEmbeddingHead(entries, [], people, { epochs: 4, learningRate: 1e-2, batchSize: 64, seed: 1, dropout: 0 }, () => {});
  const epochs = history.phases[0]!.epochs;
  assert.ok(epochs.at(-1)!.loss < epochs[0]!.loss * 0.9, `${epochs[0]!.loss} -> ${epochs.at(-1)!.loss}`);
  assert.equal(epochs.at(-1)!.accuracy, 1);
  head.dispose();
});
