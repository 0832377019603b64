import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../src/tfjs/backend.js';
import { fileSystemIO } from '../src/tfjs/model-io.js';
import { loadOnnxRuntime, onnxRuntime } from '../src/runtime/onnxruntime.js';
import type { OnnxRuntime } from '../src/runtime/runtime.js';
import { splitAtLayer } from '../src/graph/split.js';
import { buildClassicHead } from '../src/base/mobilenetv2/head.js';
import { readImageFile, resizeSquare, type RgbImage } from '../src/image/decode.js';
import { HISTORY_FILE } from '../src/model-dir/manifest.js';
import { computeFrozenOutputs } from '../src/base/mobilenetv2/features.js';
import type { EpochMetrics } from '../src/train/phase.js';
import { Adam } from '../src/train/onnx-adam.js';
import { dropoutMultipliers, OnnxTrainer } from '../src/train/onnx-step.js';
import { packRows, replicaWeights, variablesOf, type ReplicaModels, type SharedTensor } from '../src/train/replica.js';
import { train } from '../src/api/train.js';
import { celebrityPhotos } from './support/tiny-model.js';
import { MOBILENET_035_DIR, needsShared, tempDir } from './support/shared.js';

await initEngine('wasm');

const PEOPLE = ['madonna', 'elton_john', 'mindy_kaling'];
const CLASSES = [0, 0, 1, 1, 2, 2];

/** The shared alpha 0.35 MobileNetV2 split at 100, plus a seeded classic head. */
async function network(dropout: number): Promise<ReplicaModels & { frozen: tfl.LayersModel }> {
  const base = await tfl.loadLayersModel(fileSystemIO(MOBILENET_035_DIR));
  const { frozen, tail } = splitAtLayer(base, 100);
  const head = buildClassicHead({ numClasses: PEOPLE.length, inputShape: base.outputs[0]!.shape.slice(1) as number[], dropout, seed: 5 });
  return { frozen, tail, head };
}

/** Largest |actual - expected| over one variable, relative to that variable's largest |expected|. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
  return actual.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i]!)), 0) / scale;
}

/** tfjs' loss and gradients (BatchNorm in inference mode), with `multiplier` applied where the head's Dropout is. */
function tfjsReference(models: ReplicaModels, boundary: SharedTensor[], multiplier?: Float32Array): { loss: number; gradients: Float32Array[] } {
  const variables = variablesOf(replicaWeights(models));
  return tf.tidy(() => {
    const inputs = boundary.map(({ shape, values }) => tf.tensor(values, shape));
    const { value, grads } = tf.variableGrads(() => {
      let h = models.tail!.apply(inputs, { training: false }) as tf.Tensor;
      for (const layer of models.head.layers) {
        if (layer.getClassName() !== 'Dropout') h = layer.apply(h) as tf.Tensor;
        else if (multiplier) h = tf.mul(h, tf.tensor(multiplier, h.shape));
      }
      const y = tf.oneHot(CLASSES, PEOPLE.length);
      return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(tf.clipByValue(h, 1e-7, 1 - 1e-7))), -1))) as tf.Scalar;
    }, variables);
    return { loss: value.dataSync()[0]!, gradients: variables.map((v) => grads[v.name]!.dataSync() as Float32Array) };
  });
}

let ort: OnnxRuntime;
let boundary: SharedTensor[];

before(async () => {
  if (needsShared) return;
  const loaded = await loadOnnxRuntime();
  assert.ok(loaded, 'onnxruntime-node loads');
  ort = loaded;
  const images: RgbImage[] = [];
  for (const person of PEOPLE) for (const file of await celebrityPhotos(person, 2)) images.push(await resizeSquare(await readImageFile(file), 224));
  const { frozen } = await network(0);
  boundary = await computeFrozenOutputs(frozen, images, 8, onnxRuntime(ort));
});

async function onnxStep(models: ReplicaModels, dropoutSeed: number) {
  const trainer = await OnnxTrainer.create(ort, { models, numClasses: PEOPLE.length, learningRate: 1e-5 });
  try {
    const dropout = dropoutMultipliers(trainer.graph.dropout, CLASSES.length, dropoutSeed);
    const rows = CLASSES.map((_, i) => i);
    return { dropout, ...(await trainer.compute({ boundary: packRows(boundary, rows), classes: CLASSES, dropout })) };
  } finally {
    await trainer.release();
  }
}

function assertMatches(onnx: { loss: number; gradients: Float32Array[] }, reference: { loss: number; gradients: Float32Array[] }, names: string[]): number {
  assert.ok(Math.abs(onnx.loss - reference.loss) <= 1e-5 * Math.abs(reference.loss), `loss ${onnx.loss} vs tfjs ${reference.loss}`);
  assert.equal(onnx.gradients.length, reference.gradients.length);
  let worst = 0;
  reference.gradients.forEach((expected, k) => {
    assert.equal(onnx.gradients[k]!.length, expected.length, `${names[k]} size`);
    const error = relativeError(onnx.gradients[k]!, expected);
    assert.ok(error <= 1e-4, `gradient of ${names[k]}: max error ${error} of its largest |gradient|`);
    worst = Math.max(worst, error);
  });
  return worst;
}

test('without dropout, the loss and every gradient equal tfjs', { skip: needsShared }, async () => {
  const models = await network(0);
  const onnx = await onnxStep(models, 1);
  assert.ok(onnx.dropout[0]!.every((m) => m === 1), 'rate 0 keeps every element');
  const names = replicaWeights(models).map((w) => w.name);
  assert.equal(names.length, 56 + 4);
  const worst = assertMatches(onnx, tfjsReference(models, boundary), names);
  console.log(`worst gradient error relative to each variable's largest |gradient|: ${worst.toExponential(2)}`);
});

test('with dropout, the loss and gradients equal tfjs with the same multipliers', { skip: needsShared }, async () => {
  const models = await network(0.5);
  const onnx = await onnxStep(models, 7);
  const multiplier = onnx.dropout[0]!;
  const dropped = multiplier.filter((m) => m === 0).length / multiplier.length;
  assert.ok(dropped > 0.4 && dropped < 0.6, `dropped ${dropped}`);
  assert.ok(multiplier.every((m) => m === 0 || m === 2));
  assertMatches(onnx, tfjsReference(models, boundary, multiplier), replicaWeights(models).map((w) => w.name));
});

test('Adam on Float32Arrays moves the weights exactly as tf.train.adam', { skip: needsShared }, async () => {
  const models = await network(0);
  const { gradients } = await onnxStep(models, 1);
  const start = replicaWeights(models).map((w) => Float32Array.from(w.read().dataSync() as Float32Array));
  const learningRate = 1e-3;
  const ours = start.map((w) => w.slice());
  const adam = new Adam(ours.map((w) => w.length), learningRate);
  const variables = start.map((w, k) => tf.variable(tf.tensor(w), true, `adam_check_${k}`));
  const optimizer = tf.train.adam(learningRate);
  // two steps, the second with other gradients: moments and bias corrections carry over
  for (const scale of [1, -0.5]) {
    const step = gradients.map((g) => g.map((v) => v * scale));
    adam.apply(ours, step);
    optimizer.applyGradients(variables.map((v, k) => ({ name: v.name, tensor: tf.tensor(step[k]!) })));
  }
  variables.forEach((v, k) => {
    const expected = v.dataSync() as Float32Array;
    const update = (w: Float32Array) => w.map((x, i) => x - start[k]![i]!);
    const error = relativeError(update(ours[k]!), update(expected));
    assert.ok(error <= 1e-6, `variable ${k}: update error ${error}`);
  });
  optimizer.dispose();
  tf.dispose(variables);
});

test('a fine-tune phase on onnxruntime reproduces its weights bit for bit with the same seed', { skip: needsShared }, async () => {
  const data = await tempDir('ort-photos');
  for (const person of PEOPLE.slice(0, 2)) {
    await mkdir(path.join(data, person));
    for (const file of await celebrityPhotos(person, 5)) await symlink(file, path.join(data, person, path.basename(file)));
  }
  const out = await tempDir('ort-seed');
  const recipe = { dataDir: data, base: 'mobilenetv2' as const, detect: false, weights: MOBILENET_035_DIR, epochs: 1, fineTuneEpochs: 2, fineTuneLearningRate: 1e-3, augment: false, batchSize: 4, seed: 21 };
  const a = await train({ ...recipe, outDir: path.join(out, 'a') });
  const b = await train({ ...recipe, outDir: path.join(out, 'b') });
  const other = await train({ ...recipe, seed: 22, outDir: path.join(out, 'c') });
  const history = JSON.parse(await readFile(path.join(a.outDir, HISTORY_FILE), 'utf8')) as { phases: { name: string; epochs: EpochMetrics[] }[] };
  const fineTune = history.phases.find((p) => p.name === 'fine-tune');
  assert.equal(fineTune?.epochs.length, 2);
  assert.ok(fineTune.epochs.every((e) => Number.isFinite(e.loss) && e.valAccuracy !== undefined), JSON.stringify(fineTune.epochs));
  const weights = (dir: string) => readFile(path.join(dir, 'weights.bin'));
  assert.ok((await weights(a.outDir)).equals(await weights(b.outDir)), 'identical weights with the same seed');
  assert.ok(!(await weights(a.outDir)).equals(await weights(other.outDir)), 'another seed trains other weights');
});
