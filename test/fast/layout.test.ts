import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import { BASE_ROWS, BASES, TRAIN_DEFAULTS, resolveTrainConfig } from '../../src/base/index.js';
import { ERROR_CODES, FacetrainError, type ErrorCode } from '../../src/errors.js';
import { chooseRuntime } from '../../src/runtime/choose.js';
import { HttpError, toErrorResponse } from '../../src/server/http-error.js';
import { initEngine } from '../../src/tfjs/backend.js';

test('every base name has a row, and its manifest entry names it', () => {
  assert.deepEqual(Object.keys(BASE_ROWS).sort(), [...BASES].sort());
  for (const name of BASES) {
    const config = resolveTrainConfig({ dataDir: 'photos', outDir: 'model', base: name });
    assert.equal(BASE_ROWS[name].manifestEntry(config).name, name);
    assert.ok(BASE_ROWS[name].normalisation.std > 0, `${name}: std`);
  }
  assert.equal(BASE_ROWS[TRAIN_DEFAULTS.base].kind, 'embedding', 'the default base keeps a gallery, so people can be enrolled');
});

test('the library codes each exit with their own status, the server codes with 1; HTTP statuses are 4xx/5xx', () => {
  const codes = Object.entries(ERROR_CODES) as [ErrorCode, { exit: number; http: number }][];
  const libraryExits = codes.map(([, c]) => c.exit).filter((exit) => exit !== 1);
  assert.equal(new Set(libraryExits).size, libraryExits.length, 'library exit statuses are distinct');
  for (const [code, { http }] of codes) assert.ok(http >= 400 && http < 600, `${code}: ${http}`);
  const library = new FacetrainError('FT_ERR_IMAGE', 'x.jpg: not an image');
  assert.equal(library.exitCode, ERROR_CODES.FT_ERR_IMAGE.exit);
  assert.equal(toErrorResponse(library).status, ERROR_CODES.FT_ERR_IMAGE.http);
  const refusal = toErrorResponse(new HttpError('FT_ERR_BUSY', 'busy', { 'retry-after': '1' }));
  assert.equal(refusal.status, ERROR_CODES.FT_ERR_BUSY.http);
  assert.deepEqual(refusal.body, { error: { code: 'FT_ERR_BUSY', message: 'busy' } });
});

test('both runtimes run the same layers model to the same outputs', async () => {
  await initEngine();
  const seeded = (seed: number) => ({ kernelInitializer: tfl.initializers.glorotUniform({ seed }) });
  // the ONNX conversion takes image models: NHWC in
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [4, 4, 3], filters: 2, kernelSize: 1, activation: 'relu', ...seeded(7) }),
      tfl.layers.globalAveragePooling2d({}),
      tfl.layers.dense({ units: 2, activation: 'softmax', ...seeded(8) }),
    ],
  });
  const input = Float32Array.from({ length: 2 * 4 * 4 * 3 }, (_, i) => Math.sin(i));
  const tfjs = await chooseRuntime('tfjs');
  assert.equal(tfjs.name, 'tfjs');
  const [expected] = await (await tfjs.layersModelSession(model)).run(input, [2, 4, 4, 3]);
  const chosen = await chooseRuntime(undefined);
  const session = await chosen.layersModelSession(model);
  const [actual] = await session.run(input, [2, 4, 4, 3]);
  session.release();
  assert.equal(actual!.length, 4);
  actual!.forEach((v, i) => assert.ok(Math.abs(v - expected![i]!) < 1e-5, `${chosen.name} output ${i}: ${v} vs ${expected![i]}`));
  model.dispose();
});
