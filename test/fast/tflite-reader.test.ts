import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { mobileFaceNetPath } from '../../src/base/mobilefacenet/mobilefacenet.js';
import { irFromTflite } from '../../src/graph/from-tflite.js';
import { evaluateIr } from '../../src/graph/interpret.js';
import { irToOnnx } from '../../src/graph/onnx.js';
import { optimizeIr } from '../../src/graph/optimize.js';
import { initEngine } from '../../src/tfjs/backend.js';
import { loadOnnxRuntime } from '../../src/runtime/onnxruntime.js';

test('MobileFaceNet.tflite read into the IR: its 33 lowered PReLUs as one op each; ONNX of the IR computes what TF.js computes from it', async () => {
  const ir = optimizeIr(irFromTflite(new Uint8Array(await readFile(mobileFaceNetPath())), 'MobileFaceNet.tflite', 'ONNX'));
  const kinds: Record<string, number> = {};
  for (const op of ir.ops) kinds[op.kind] = (kinds[op.kind] ?? 0) + 1;
  assert.equal(kinds.prelu, 33);
  assert.equal(kinds.conv2d! + kinds.depthwiseConv2d!, 35 + 17);
  assert.deepEqual(ir.shapes.get(ir.outputs[0]!), [1, 192]);
  const ort = await loadOnnxRuntime();
  if (!ort) return;
  await initEngine();
  const batch = 2;
  const input = Float32Array.from({ length: batch * 112 * 112 * 3 }, (_, i) => (((i * 7919) % 256) - 127.5) / 128);
  const session = await ort.InferenceSession.create(irToOnnx(ir, { metadata: {}, producerVersion: '0', name: 'mobilefacenet' }), { intraOpNumThreads: 1 });
  const onnx = (await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input, [batch, 112, 112, 3]) }))[session.outputNames[0]!]!.data as Float32Array;
  await session.release();
  const reference = evaluateIr(ir, tf.tensor4d(input, [batch, 112, 112, 3]));
  const expected = reference.dataSync() as Float32Array;
  reference.dispose();
  assert.equal(onnx.length, batch * 192);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < onnx.length; i++) {
    diff = Math.max(diff, Math.abs(onnx[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  assert.ok(diff <= 1e-4 * Math.max(1, scale), `max diff ${diff} (largest value ${scale})`);
});
