import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cachedBlazeFaceOnnx } from '../../src/faces/blazeface-onnx.js';
import { BlazeFaceSessions } from '../../src/faces/blazeface-sessions.js';
import { humanModelsDir } from '../../src/faces/human-models.js';
import { createOnnxSession, loadOnnxRuntime } from '../../src/runtime/onnxruntime.js';
import { createRandom } from '../../src/util/random.js';

test('BlazeFace sessions by view size: each size gives the any-size model\'s outputs, and a size dropped from the open ones and seen again gives them too', async () => {
  const ort = await loadOnnxRuntime();
  assert.ok(ort, 'onnxruntime-node loads');
  const models = { square: await cachedBlazeFaceOnnx(humanModelsDir()), anySize: await cachedBlazeFaceOnnx(humanModelsDir(), { anySize: true }) };
  const sessions = await BlazeFaceSessions.open(ort, models.square, () => Promise.resolve(models.anySize), { threads: 1 });
  const reference = await createOnnxSession(ort, models.anySize, { threads: 1 });
  const random = createRandom(7);
  // six frame-view sizes (and one square), more than are kept open: the first is dropped and reopened on its second run
  const sizes: [number, number][] = [[256, 320], [224, 288], [256, 256], [192, 256], [160, 224], [128, 128], [96, 160], [256, 320]];
  try {
    for (const [rows, columns] of sizes) {
      const shape = [2, rows, columns, 3];
      const input = Float32Array.from({ length: 2 * rows * columns * 3 }, () => random() * 2 - 1);
      const [got, expected] = [await sessions.run(input, shape), await reference.run(input, shape)];
      got.forEach((values, output) => {
        assert.equal(values.length, expected[output]!.length, `${rows}x${columns} output ${output}`);
        const largest = values.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[output]![i]!)), 0);
        assert.ok(largest < 1e-3, `${rows}x${columns} output ${output}: differs by up to ${largest}`);
      });
    }
  } finally {
    sessions.release();
    reference.release();
  }
});
