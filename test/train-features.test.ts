import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tfl from '@tensorflow/tfjs-layers';
import { splitAtLayer } from '../src/graph/split.js';
import { initEngine } from '../src/tfjs/backend.js';
import { fileSystemIO } from '../src/tfjs/model-io.js';
import { loadOnnxRuntime, onnxRuntime } from '../src/runtime/onnxruntime.js';
import { TFJS_RUNTIME } from '../src/runtime/tfjs.js';
import { readImageFile, resizeSquare } from '../src/image/decode.js';
import { loadFaceRes } from '../src/base/faceres/faceres.js';
import { onnxFaceEmbedder } from '../src/recognize/onnx-engine.js';
import { computeFrozenOutputs } from '../src/base/mobilenetv2/features.js';
import { celebrityPhotos } from './support/tiny-model.js';
import { MOBILENET_035_DIR, needsShared } from './support/shared.js';

await initEngine('wasm');
const ort = await loadOnnxRuntime();
assert.ok(ort, 'onnxruntime-node is a dependency and must load');

async function photos(count: number, size: number) {
  const files = [...(await celebrityPhotos('madonna', count)), ...(await celebrityPhotos('elton_john', count))];
  return Promise.all(files.map(async (f) => resizeSquare(await readImageFile(f), size)));
}

/**
 * onnxruntime runs BatchNorm folded into the convolutions (and fused kernels), so float rounding
 * differs from TF.js layer by layer; after 100 layers it reaches about 1e-4 of the value.
 */
function assertClose(actual: Float32Array, expected: Float32Array, what: string, bound: number): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!)));
  assert.ok(worst <= bound, `${what}: max relative difference ${worst}`);
}

test('frozen features at the fine-tuning boundary (two tensors) are the same on onnxruntime and the TF.js pool', { skip: needsShared }, async () => {
  const base = await tfl.loadLayersModel(fileSystemIO(MOBILENET_035_DIR));
  const { frozen, boundary } = splitAtLayer(base, 100);
  assert.equal(boundary.length, 2, 'block_11 needs the expand output and the block_10 residual');
  const images = await photos(3, 224);
  const onnx = await computeFrozenOutputs(frozen, images, 4, onnxRuntime(ort));
  const wasm = await computeFrozenOutputs(frozen, images, 4, TFJS_RUNTIME);
  assert.equal(onnx.length, 2);
  onnx.forEach((t, k) => {
    assert.deepEqual(t.shape, wasm[k]!.shape, `output ${boundary[k]} shape`);
    assertClose(t.values, wasm[k]!.values, `output ${boundary[k]}`, 5e-4);
  });
  base.dispose();
});

test('FaceRes embeddings on onnxruntime equal the TF.js ones, and an off-size face is resized first', async () => {
  const tfjs = await loadFaceRes();
  const native = await onnxFaceEmbedder(ort, await loadFaceRes());
  const faces = needsShared ? [] : await photos(2, tfjs.inputSize);
  const synthetic = { width: tfjs.inputSize, height: tfjs.inputSize, data: Uint8Array.from({ length: tfjs.inputSize ** 2 * 3 }, (_, i) => (i * 37) % 256) };
  const inputs = [...faces, synthetic];
  const expected = await tfjs.embed(inputs);
  const actual = await native.embed(inputs);
  actual.forEach((e, i) => assertClose(e, expected[i]!, `face ${i}`, 1e-4));
  const small = await resizeSquare(synthetic, 150);
  const [fromSmall] = await native.embed([small]);
  assert.equal(fromSmall!.length, tfjs.dims);
  tfjs.dispose();
  native.dispose();
});
