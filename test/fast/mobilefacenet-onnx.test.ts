import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { mobileFaceNetPath } from '../../src/base/mobilefacenet/mobilefacenet.js';
import { tfliteToOnnx } from '../../src/base/mobilefacenet/tflite-to-onnx.js';
import { ModelProto } from '../../src/graph/onnx-schema.js';
import { loadOnnxRuntime } from '../../src/runtime/onnxruntime.js';

const ops = (bytes: Uint8Array): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const n of ModelProto.decode(bytes).graph!.node!) counts[n.op_type!] = (counts[n.op_type!] ?? 0) + 1;
  return counts;
};

test('MobileFaceNet converts with its 33 lowered PReLUs as ONNX PRelu, computing what the five ops did', async () => {
  const file = new Uint8Array(await readFile(mobileFaceNetPath()));
  const fused = tfliteToOnnx(file, 'MobileFaceNet.tflite');
  const lowered = tfliteToOnnx(file, 'MobileFaceNet.tflite', { fusePRelu: false });
  const [f, l] = [ops(fused), ops(lowered)];
  assert.equal(f.PRelu, 33);
  assert.equal(f.Abs ?? 0, 0);
  assert.equal(f.Sub ?? 0, 0);
  assert.equal(f.Mul ?? 0, 0);
  assert.equal(l.Abs, 33);
  assert.equal(f.Conv, l.Conv);
  const ort = await loadOnnxRuntime();
  if (!ort) return;
  const input = Float32Array.from({ length: 2 * 112 * 112 * 3 }, (_, i) => (((i * 7919) % 256) - 127.5) / 128);
  const run = async (bytes: Uint8Array) => {
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input, [2, 112, 112, 3]) });
    await session.release();
    return out[session.outputNames[0]!]!.data as Float32Array;
  };
  const [a, b] = [await run(fused), await run(lowered)];
  assert.equal(a.length, 2 * 192);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  assert.ok(diff <= 1e-4, `max diff ${diff}`);
});
