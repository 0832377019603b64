import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { buildMobileNetV2, loadMobileNetV2, mobileNetV2OutputChannels, preprocessMobileNetV2 } from '../src/base/mobilenetv2/mobilenetv2.js';
import { MOBILENET_V2_ALPHAS, officialWeightsFileName, officialWeightsUrl } from '../src/base/mobilenetv2/official-weights.js';
import { splitAtLayer } from '../src/graph/split.js';
import { initEngine } from '../src/tfjs/backend.js';
import { fileSystemIO } from '../src/tfjs/model-io.js';
import { readImageFile, resizeSquare } from '../src/image/decode.js';
import { FacetrainError } from '../src/errors.js';
import { loadH5wasm } from '../src/util/keras-h5.js';
import { FIVE_CELEBRITIES, MOBILENET_035_DIR, needsShared } from './support/shared.js';

/** Keras `MobileNetV2(include_top=False).count_params()` at 224 (as published alongside the weights). */
const KERAS_PARAMS: Record<number, number> = { 0.35: 410_208, 0.5: 706_224, 0.75: 1_382_064, 1.0: 2_257_984, 1.3: 3_766_048, 1.4: 4_363_712 };

/** make_divisible(1280 * alpha) for the widths above 1; 1280 otherwise. */
const KERAS_OUTPUT_CHANNELS: Record<number, number> = { 1.3: 1664, 1.4: 1792 };

/** What Node's fetch throws without network. */
const offline = (async () => {
  throw new TypeError('fetch failed', { cause: new Error('getaddrinfo ENOTFOUND storage.googleapis.com') });
}) as typeof fetch;

let tmp: string;
let photos: tf.Tensor4D;
let reference: tfl.LayersModel;
let referenceOut: tf.Tensor;

/** One val photo per person plus one train photo each: 10 real faces at 224x224, scaled to [-1, 1]. */
async function loadPhotos(): Promise<tf.Tensor4D> {
  const files: string[] = [];
  for (const split of ['val', 'train']) {
    for (const person of (await readdir(path.join(FIVE_CELEBRITIES, split))).sort()) {
      const dir = path.join(FIVE_CELEBRITIES, split, person);
      files.push(path.join(dir, (await readdir(dir)).sort()[0]));
    }
  }
  const images = await Promise.all(files.map(async (file) => resizeSquare(await readImageFile(file), 224)));
  return tf.tidy(() => preprocessMobileNetV2(tf.stack(images.map((img) => tf.tensor3d(img.data, [224, 224, 3], 'int32')))) as tf.Tensor4D);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

function predict(model: tfl.LayersModel, x: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return model.predict(x) as tf.Tensor;
}

async function assertMatchesReference(model: tfl.LayersModel, tolerance: number): Promise<void> {
  const out = predict(model, photos);
  try {
    assert.deepEqual(out.shape, [photos.shape[0], 7, 7, 1280]);
    assert.ok(maxAbsDiff(out, referenceOut) <= tolerance, `max abs diff ${maxAbsDiff(out, referenceOut)} > ${tolerance}`);
  } finally {
    out.dispose();
  }
}

/** Keras 2 `save_weights` layout, as in the official no-top files; h5wasm (unlike h5py) needs each group created. */
async function writeKerasWeightsH5(model: tfl.LayersModel, file: string): Promise<void> {
  const h5wasm = await loadH5wasm();
  const h5 = new h5wasm.File(file, 'w');
  const fixed = (names: string[]): string => `S${Math.max(1, ...names.map((n) => n.length))}`;
  const layerNames = model.layers.map((l) => l.name);
  h5.create_attribute('layer_names', layerNames, null, fixed(layerNames));
  h5.create_attribute('backend', 'tensorflow');
  h5.create_attribute('keras_version', '2.2.4');
  for (const layer of model.layers) {
    const group = h5.create_group(layer.name);
    const names = layer.weights.map((w) => `${layer.name}/${w.originalName.split('/').pop()}:0`);
    group.create_attribute('weight_names', names, [names.length], fixed(names));
    const scope = names.length > 0 ? group.create_group(layer.name) : group;
    layer.weights.forEach((w, i) => {
      const value = w.read();
      scope.create_dataset({ name: names[i].split('/').pop()!, data: value.dataSync() as Float32Array, shape: value.shape, dtype: '<f' });
    });
  }
  h5.close();
}

async function assertRejects(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof FacetrainError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), 'one-line message');
    return true;
  });
}

before(async () => {
  await initEngine();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facetrain-base-'));
  if (needsShared) return;
  photos = await loadPhotos();
  reference = await tfl.loadLayersModel(fileSystemIO(MOBILENET_035_DIR));
  referenceOut = predict(reference, photos);
});

after(async () => {
  tf.dispose([photos, referenceOut]);
  reference?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

test('built 0.35 network has the shared Keras topology layer for layer', { skip: needsShared }, async () => {
  const model = buildMobileNetV2({ alpha: 0.35 });
  const shared = JSON.parse(await readFile(path.join(MOBILENET_035_DIR, 'model.json'), 'utf8'));
  const expected = shared.modelTopology.config;
  const ours = (model.toJSON(null, false) as { config: typeof expected }).config;
  assert.equal(model.layers.length, 155);
  assert.equal(model.layers[100].name, 'block_11_expand_BN');
  assert.deepEqual(ours.layers.map((l: { name: string }) => l.name), expected.layers.map((l: { name: string }) => l.name));
  for (let i = 0; i < expected.layers.length; i++) assert.deepEqual(ours.layers[i], expected.layers[i], `layer ${i} ${expected.layers[i].name}`);
  assert.deepEqual([ours.input_layers, ours.output_layers], [expected.input_layers, expected.output_layers]);
  model.dispose();
});

test('every published alpha builds with Keras output channels and parameter count', () => {
  for (const alpha of MOBILENET_V2_ALPHAS) {
    const model = buildMobileNetV2({ alpha });
    const channels = KERAS_OUTPUT_CHANNELS[alpha] ?? 1280;
    assert.equal(mobileNetV2OutputChannels(alpha), channels);
    assert.deepEqual(model.outputs[0].shape, [null, 7, 7, channels], `alpha ${alpha}`);
    assert.equal(model.countParams(), KERAS_PARAMS[alpha], `alpha ${alpha}`);
    assert.equal(model.layers.length, 155);
    assert.equal(model.layers[100].name, 'block_11_expand_BN');
    assert.equal(model.name, `mobilenetv2_${alpha.toFixed(2)}_224`);
    model.dispose();
  }
  const small = buildMobileNetV2({ alpha: 1.0, inputSize: 96 });
  assert.deepEqual(small.outputs[0].shape, [null, 3, 3, 1280]);
  small.dispose();
});

test('TF.js weights load by name and reproduce tf.loadLayersModel on real photos', { skip: needsShared }, async () => {
  const model = await loadMobileNetV2({ alpha: 0.35, weights: MOBILENET_035_DIR });
  await assertMatchesReference(model, 1e-4);
  model.dispose();
  const viaJson = await loadMobileNetV2({ alpha: 0.35, weights: path.join(MOBILENET_035_DIR, 'model.json') });
  await assertMatchesReference(viaJson, 1e-4);
  viaJson.dispose();
});

test('Keras .h5 weights in the official layout round-trip to identical outputs', { skip: needsShared }, async () => {
  const file = path.join(tmp, officialWeightsFileName(0.35));
  await writeKerasWeightsH5(reference, file);
  const model = await loadMobileNetV2({ alpha: 0.35, weights: file });
  await assertMatchesReference(model, 0);
  model.dispose();
});

test('unusable weight sources fail with FT_ERR_WEIGHTS naming the file', { skip: needsShared }, async () => {
  await assertRejects(loadMobileNetV2({ alpha: 0.5, weights: MOBILENET_035_DIR }), 'FT_ERR_WEIGHTS', /has shape \[[\d,]+\] but mobilenetv2_0\.50_224 needs \[[\d,]+\]; pass weights for the same alpha/);
  const notH5 = path.join(tmp, 'notes.h5');
  await writeFile(notH5, 'not weights');
  await assertRejects(loadMobileNetV2({ alpha: 0.35, weights: notH5 }), 'FT_ERR_WEIGHTS', /notes\.h5 is not an HDF5 file/);
  await assertRejects(loadMobileNetV2({ alpha: 0.35, weights: path.join(tmp, 'missing') }), 'FT_ERR_WEIGHTS', /missing: not found/);
});

test('official weights download once into the cache, verified by the recorded sha256', { skip: needsShared }, async () => {
  const served = path.join(tmp, 'served.h5');
  await writeKerasWeightsH5(reference, served);
  const requests: string[] = [];
  // Stands in for the network only: the bytes are a real Keras-layout .h5 written above.
  const localFetch = (async (url: string | URL | Request) => {
    requests.push(String(url));
    return new Response(await readFile(served));
  }) as typeof fetch;
  const cacheDir = path.join(tmp, 'cache');
  const cached = path.join(cacheDir, 'models', officialWeightsFileName(0.35));

  const first = await loadMobileNetV2({ alpha: 0.35, cacheDir, fetch: localFetch });
  assert.deepEqual(requests, [officialWeightsUrl(0.35)]);
  assert.equal(requests[0], 'https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5');
  const digest = createHash('sha256').update(await readFile(served)).digest('hex');
  assert.equal(await readFile(`${cached}.sha256`, 'utf8'), `${digest}  ${officialWeightsFileName(0.35)}\n`);
  await assertMatchesReference(first, 0);
  first.dispose();

  const reused = await loadMobileNetV2({ alpha: 0.35, cacheDir, fetch: offline });
  assert.equal(requests.length, 1, 'a verified cache entry is reused without network');
  reused.dispose();

  const bytes = await readFile(cached);
  bytes[bytes.length - 1] ^= 0xff;
  await writeFile(cached, bytes);
  await assertRejects(loadMobileNetV2({ alpha: 0.35, cacheDir, fetch: offline }), 'FT_ERR_NETWORK', /./);
  const repaired = await loadMobileNetV2({ alpha: 0.35, cacheDir, fetch: localFetch });
  assert.equal(requests.length, 2, 'a corrupted cache entry is downloaded again');
  assert.equal(createHash('sha256').update(await readFile(cached)).digest('hex'), digest);
  repaired.dispose();
});

test('offline or bad downloads fail with one-line FT_ERR_NETWORK and cache nothing', async () => {
  const cacheDir = path.join(tmp, 'offline-cache');
  await assertRejects(
    loadMobileNetV2({ alpha: 1.0, cacheDir, fetch: offline }),
    'FT_ERR_NETWORK',
    /^Cannot download https:\/\/storage\.googleapis\.com\/.*_1\.0_224_no_top\.h5 \(getaddrinfo ENOTFOUND .*\); .*set `weights` to its path \(mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1\.0_224_no_top\.h5\)$/,
  );
  const notFound = (async () => new Response('nope', { status: 404 })) as typeof fetch;
  await assertRejects(loadMobileNetV2({ alpha: 0.5, cacheDir, fetch: notFound }), 'FT_ERR_NETWORK', /HTTP 404/);
  const portal = (async () => new Response('<html>login</html>')) as typeof fetch;
  await assertRejects(loadMobileNetV2({ alpha: 0.5, cacheDir, fetch: portal }), 'FT_ERR_NETWORK', /did not return an HDF5 file/);
  await assertRejects(loadMobileNetV2({ alpha: 0.6, cacheDir, fetch: offline }), 'FT_ERR_INVALID_OPTION', /alpha/);
  assert.equal(officialWeightsFileName(1.0, 160), 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5');
  assert.equal(officialWeightsFileName(1.3, 160), 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_224_no_top.h5', 'alphas above 1 only have 224');
  assert.equal(officialWeightsFileName(0.5, 200), 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5');
  assert.deepEqual(await readdir(path.join(cacheDir, 'models')).catch(() => []), [], 'nothing cached');
});

test('splitAtLayer: frozen then tail equals the whole network on real photos', { skip: needsShared }, async () => {
  const model = await loadMobileNetV2({ alpha: 0.35, weights: MOBILENET_035_DIR });
  const whole = predict(model, photos);
  const expectations: [number, string[]][] = [
    [100, ['block_10_project_BN', 'block_11_expand']],
    [46, ['block_4_add']],
    [108, ['block_11_add']],
    [154, ['Conv_1_bn']],
    [1, ['input_1']],
  ];
  for (const [index, boundary] of expectations) {
    const split = splitAtLayer(model, index);
    assert.deepEqual(split.boundary, boundary, `boundary at ${index}`);
    assert.equal(split.tail.inputs.length, boundary.length);
    const features = split.frozen.predict(photos);
    const out = predict(split.tail, features);
    assert.ok(maxAbsDiff(out, whole) <= 1e-5, `index ${index}: ${maxAbsDiff(out, whole)}`);
    tf.dispose([features, out]);
  }
  const { tail } = splitAtLayer(model, 100);
  assert.equal(tail.getLayer('block_11_expand_BN'), model.layers[100], 'tail shares the layer objects');
  assert.throws(() => splitAtLayer(model, 155), /split layer index/);
  whole.dispose();
  model.dispose();
});

test('splitAtLayer is generic: a second model input consumed only after the split joins the boundary', () => {
  const a = tfl.input({ shape: [4], name: 'a' });
  const b = tfl.input({ shape: [3], name: 'b' });
  const hidden = tfl.layers.dense({ units: 5, name: 'hidden' }).apply(a) as tfl.SymbolicTensor;
  const deeper = tfl.layers.dense({ units: 5, activation: 'relu', name: 'deeper' }).apply(hidden) as tfl.SymbolicTensor;
  const joined = tfl.layers.concatenate({ name: 'joined' }).apply([deeper, b, hidden]) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, name: 'out' }).apply(joined) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: [a, b], outputs: out });
  const index = model.layers.findIndex((l) => l.name === 'deeper');
  const split = splitAtLayer(model, index);
  assert.deepEqual([...split.boundary].sort(), ['b', 'hidden']);
  const xs = [tf.randomNormal([6, 4], 0, 1, 'float32', 1), tf.randomNormal([6, 3], 0, 1, 'float32', 2)];
  const composed = predict(split.tail, split.frozen.predict(xs));
  const direct = predict(model, xs);
  assert.ok(maxAbsDiff(composed, direct) <= 1e-6);
  tf.dispose([...xs, composed, direct]);
  model.dispose();
});
