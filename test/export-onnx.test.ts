import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as ort from 'onnxruntime-node';
import { evaluateIr } from '../src/graph/interpret.js';
import { exportModel, recognizerIr, writeExport } from '../src/export/export-model.js';
import type { ExportableRecognizer } from '../src/export/types.js';
import { ONNX_INPUT, ONNX_OUTPUT, readOnnxMetadata } from '../src/graph/onnx.js';
import { FacetrainError } from '../src/errors.js';
import {
  FACERES_EMBEDDING,
  FACERES_INPUT,
  MOBILENET_INPUT,
  type Photos,
  celebrityLabels,
  faceHead,
  loadFaceRes,
  loadPhotos,
  maxAbsDiff,
  mobilenetRecognizer,
  referenceProbabilities,
} from './support/export-fixtures.js';
import { needsShared } from './support/shared.js';

let labels: string[];
let tmp: string;

before(async () => {
  if (needsShared) return;
  labels = await celebrityLabels();
  tmp = await mkdtemp(path.join(tmpdir(), 'facetrain-onnx-'));
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Runs every photo through onnxruntime one batch at a time and returns the concatenated probabilities. */
async function onnxProbabilities(bytes: Uint8Array, photos: Photos): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const feeds = { [ONNX_INPUT]: new ort.Tensor('float32', photos.inputs.dataSync() as Float32Array, photos.inputs.shape) };
    const out = await session.run(feeds);
    return out[ONNX_OUTPUT].data as Float32Array;
  } finally {
    await session.release();
  }
}

test('MobileNetV2 0.35 + classic head: ONNX in onnxruntime matches TF.js on real photos', { skip: needsShared }, async () => {
  const { model } = await mobilenetRecognizer(labels.length);
  const recognizer: ExportableRecognizer = { model, labels, input: MOBILENET_INPUT };
  const photos = await loadPhotos('val', MOBILENET_INPUT);

  const expected = referenceProbabilities(recognizer, photos.inputs);
  const ir = recognizerIr(recognizer, 'onnx');
  assert.ok(!ir.ops.some((op) => op.kind === 'affine' || op.kind === 'clip'), 'batch norms and relu6 clips are folded into the convs');
  const irDiff = maxAbsDiff(evaluateIr(ir, photos.inputs).dataSync(), expected);
  assert.ok(irDiff <= 1e-4, `IR reproduces the model (max abs diff ${irDiff})`);

  const { file, labelsFile } = await writeExport(recognizer, 'onnx', path.join(tmp, 'mobilenet'));
  assert.equal(path.extname(file), '.onnx');
  const bytes = new Uint8Array(await readFile(file));
  const actual = await onnxProbabilities(bytes, photos);
  const diff = maxAbsDiff(actual, expected);
  console.log(`onnx mobilenet: ${photos.classes.length} photos, max abs diff ${diff.toExponential(2)}`);
  assert.ok(diff <= 1e-4, `max abs diff ${diff}`);

  assert.deepEqual((await readFile(labelsFile, 'utf8')).trim().split('\n'), labels);
  const metadata = readOnnxMetadata(bytes);
  assert.deepEqual(JSON.parse(metadata.labels), labels);
  assert.deepEqual(JSON.parse(metadata['input.mean']), MOBILENET_INPUT.mean);
  assert.equal(metadata['input.size'], '224');
  photos.inputs.dispose();
});

test('FaceRes embedding + L2 + head: ONNX in onnxruntime matches TF.js on real photos', { skip: needsShared }, async () => {
  const graph = await loadFaceRes();
  const recognizer: ExportableRecognizer = { model: { graph, outputNode: FACERES_EMBEDDING, head: faceHead(labels.length) }, labels, input: FACERES_INPUT };
  const photos = await loadPhotos('val', FACERES_INPUT);
  const expected = referenceProbabilities(recognizer, photos.inputs);
  const actual = await onnxProbabilities(await exportModel(recognizer, 'onnx'), photos);
  const diff = maxAbsDiff(actual, expected);
  console.log(`onnx faceres: ${photos.classes.length} photos, max abs diff ${diff.toExponential(2)}`);
  const spread = Math.max(...expected) - Math.min(...expected);
  assert.ok(spread > 1e-2, `probabilities vary across photos and classes (spread ${spread}), so the comparison means something`);
  assert.ok(diff <= 1e-4, `max abs diff ${diff}`);
  photos.inputs.dispose();
});

test('an unsupported layer is refused with FT_ERR_UNSUPPORTED naming the layer and the format', { skip: needsShared }, async () => {
  const model = tfl.sequential({
    layers: [tfl.layers.maxPooling2d({ poolSize: 2, inputShape: [8, 8, 3], name: 'the_pool' }), tfl.layers.flatten(), tfl.layers.dense({ units: 2 })],
  });
  await assert.rejects(exportModel({ model, labels: ['a', 'b'], input: { size: 8, mean: [0, 0, 0], std: [1, 1, 1] } }, 'onnx'), (err: unknown) => {
    assert.ok(err instanceof FacetrainError);
    assert.equal(err.code, 'FT_ERR_UNSUPPORTED');
    assert.match(err.message, /the_pool \(MaxPooling2D\).*ONNX/);
    return true;
  });
  tf.disposeVariables();
});
