import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../src/tfjs/backend.js';
import { fileSystemIO } from '../src/tfjs/model-io.js';
import { createInferencePool, modelArtifacts, splitBatch } from '../src/runtime/pool.js';
import { MOBILENET_035_DIR, needsShared } from './support/shared.js';

await initEngine('wasm');

test('splitBatch gives contiguous, nearly equal, non-empty chunks', () => {
  assert.deepEqual(splitBatch(16, 2), [8, 8]);
  assert.deepEqual(splitBatch(5, 2), [2, 3]);
  assert.deepEqual(splitBatch(1, 4), [1]);
  assert.deepEqual(splitBatch(7, 3), [2, 2, 3]);
});

/** A two-output model so output order and per-output concatenation are checked too. */
function twoOutputModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [9, 9, 3] });
  const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, activation: 'relu' }).apply(input) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(conv) as tfl.SymbolicTensor;
  const probabilities = tfl.layers.dense({ units: 3, activation: 'softmax' }).apply(pooled) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: [probabilities, conv] });
}

async function assertPoolMatchesSingleThread(model: tfl.LayersModel, shape: number[], workers: number): Promise<void> {
  const input = tf.randomUniform(shape, -1, 1, 'float32', 11);
  const expected = tf.tidy(() => {
    const result = model.predict(input);
    return (Array.isArray(result) ? result : [result]).map((t) => t.dataSync() as Float32Array);
  });
  const pool = await createInferencePool(await modelArtifacts(model), { workers });
  try {
    const actual = await pool.predict(input.dataSync() as Float32Array, shape);
    assert.equal(actual.length, expected.length);
    actual.forEach((values, i) => {
      assert.equal(values.length, expected[i]!.length, `output ${i} length`);
      values.forEach((v, j) => assert.ok(Math.abs(v - expected[i]![j]!) <= 1e-5 * Math.max(1, Math.abs(expected[i]![j]!)), `output ${i}[${j}]: ${v} vs ${expected[i]![j]}`));
    });
  } finally {
    await pool.dispose();
    input.dispose();
  }
}

test('pooled outputs of a two-output model equal single-thread outputs, odd batch', async () => {
  const model = twoOutputModel();
  await assertPoolMatchesSingleThread(model, [5, 9, 9, 3], 2);
  await assertPoolMatchesSingleThread(model, [1, 9, 9, 3], 3);
  model.dispose();
});

test('pooled MobileNetV2 0.35 features equal single-thread features', { skip: needsShared }, async () => {
  const model = await tfl.loadLayersModel(fileSystemIO(MOBILENET_035_DIR));
  await assertPoolMatchesSingleThread(model, [3, 224, 224, 3], 2);
  model.dispose();
});

test('predict rejects an input that does not match its shape, and a disposed pool rejects work', async () => {
  const model = twoOutputModel();
  const pool = await createInferencePool(await modelArtifacts(model), { workers: 1 });
  await assert.rejects(pool.predict(new Float32Array(10), [1, 9, 9, 3]), /does not match shape/);
  await pool.dispose();
  await assert.rejects(pool.predict(new Float32Array(243), [1, 9, 9, 3]));
  model.dispose();
});
