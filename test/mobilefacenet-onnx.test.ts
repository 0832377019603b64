import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { MOBILEFACENET_BASE } from '../src/base/mobilefacenet/index.js';
import { loadMobileFaceNet, MOBILEFACENET_NORMALISATION } from '../src/base/mobilefacenet/mobilefacenet.js';
import { evaluateIr } from '../src/graph/interpret.js';
import { IrBuilder } from '../src/graph/ir.js';
import { optimizeIr } from '../src/graph/optimize.js';
import { readImageFile } from '../src/image/decode.js';
import { facePipelineOn } from '../src/recognize/face-pipeline.js';
import { loadOnnxRuntime, onnxRuntime } from '../src/runtime/onnxruntime.js';
import { initEngine } from '../src/tfjs/backend.js';
import { l2Normalise } from '../src/util/vector.js';
import { FIVE_CELEBRITIES, needsShared } from './support/shared.js';

// The embedder runs the ONNX graph written from the IR (PReLUs as blocked-layout convolutions, see
// graph/onnx.ts); TF.js evaluates the same IR op by op (tf.prelu), so the two agree only if the
// emission computes what the network computes.
test('MobileFaceNet on onnxruntime gives the embeddings the IR evaluated by TF.js gives, on real aligned faces (max abs diff <= 1e-5)', { skip: needsShared }, async () => {
  const ort = await loadOnnxRuntime();
  assert.ok(ort, 'onnxruntime-node loads');
  await initEngine();
  const pipeline = await facePipelineOn(onnxRuntime(ort), MOBILEFACENET_BASE);
  try {
    const b = new IrBuilder('image', [1, 112, 112, 3], 'ONNX');
    const ir = optimizeIr(b.finish(pipeline.embedder.appendIr!(b, b.inputName)));
    const { scale, offset } = MOBILEFACENET_NORMALISATION;
    let compared = 0;
    let maxDiff = 0;
    for (const person of (await readdir(path.join(FIVE_CELEBRITIES, 'val'))).sort()) {
      const folder = path.join(FIVE_CELEBRITIES, 'val', person);
      for (const file of (await readdir(folder)).sort().slice(0, 2)) {
        const face = await pipeline.embedLargestFace(await readImageFile(path.join(folder, file)));
        assert.ok(face, `a face in ${person}/${file}`);
        const pixels = tf.tensor4d(Float32Array.from(face.crop.data, (v) => v * scale + offset), [1, 112, 112, 3]);
        const reference = evaluateIr(ir, pixels);
        const expected = l2Normalise(reference.dataSync() as Float32Array);
        reference.dispose();
        pixels.dispose();
        expected.forEach((value, i) => (maxDiff = Math.max(maxDiff, Math.abs(value - face.embedding[i]!))));
        compared++;
      }
    }
    assert.equal(compared, 10);
    assert.ok(maxDiff <= 1e-5, `max abs diff ${maxDiff}`);
    // every core by default (the server's and training's workers give it one): the same embeddings either way
    const oneThread = await loadMobileFaceNet(ort, { threads: 1 });
    try {
      const crops = [];
      for (const file of (await readdir(path.join(FIVE_CELEBRITIES, 'val', 'madonna'))).sort().slice(0, 3)) crops.push((await pipeline.embedLargestFace(await readImageFile(path.join(FIVE_CELEBRITIES, 'val', 'madonna', file))))!.crop);
      const [every, one] = [await pipeline.embedder.embed(crops), await oneThread.embed(crops)];
      const threadDiff = Math.max(...one.flatMap((e, i) => Array.from(e, (v, j) => Math.abs(v - every[i]![j]!))));
      assert.ok(threadDiff <= 1e-6, `one thread vs every core: max abs diff ${threadDiff}`);
    } finally {
      oneThread.dispose();
    }
  } finally {
    pipeline.dispose();
  }
});
