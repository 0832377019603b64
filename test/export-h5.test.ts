import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../src/tfjs/backend.js';
import { fileSystemIO } from '../src/tfjs/model-io.js';
import { loadKerasH5, readKerasH5Labels, saveKerasH5 } from '../src/export/keras/index.js';
import { readImageFile, resizeSquare } from '../src/image/decode.js';
import { FacetrainError } from '../src/errors.js';
import { exportModelDir } from '../src/api/export.js';
import { loadPhotos } from './support/export-fixtures.js';
import { FIVE_CELEBRITIES, MOBILENET_035_DIR, needsShared } from './support/shared.js';
import { trainTinyModel } from './support/tiny-model.js';

// Debian's python3-h5py installs for the system interpreter, not for a pyenv/venv python on PATH.
const PYTHON = process.env.FACETRAIN_PYTHON ?? '/usr/bin/python3';
const DUMP_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/support/h5py-dump.py');
const NUMPY_FORWARD_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/support/h5-numpy-forward.py');
const hasH5py = spawnSync(PYTHON, ['-c', 'import h5py'], { stdio: 'ignore' }).status === 0;
if (!hasH5py && process.env.CI) throw new Error(`CI=true but ${PYTHON} cannot import h5py; .ci/run must apt-get install python3-h5py`);
const needsH5py: string | false = hasH5py ? false : `${PYTHON} has no h5py (apt-get install python3-h5py)`;
const skip = needsShared || needsH5py;

const PEOPLE = ['ben_afflek', 'elton_john', 'jerry_seinfeld', 'madonna', 'mindy_kaling'];
const workDir = mkdtempSync(path.join(os.tmpdir(), 'facetrain-export-h5-'));

interface DumpedWeight {
  name: string;
  shape: number[];
  dtype: string;
  offset: number;
  length: number;
}
interface KerasLayerEntry {
  class_name: string;
  name?: string;
  config: { name: string; trainable?: boolean; layers?: KerasLayerEntry[]; [key: string]: unknown };
}
interface H5pyDump {
  libver: string[];
  root_attrs: string[];
  model_config: KerasLayerEntry;
  keras_version: string;
  backend: string;
  class_names: string[] | null;
  types: { model_config: { variable: boolean; ascii: boolean }; keras_version: { variable: boolean; ascii: boolean }; layer_names_numpy: string };
  weights_keras_version: string;
  weights_backend: string;
  layer_names: string[];
  groups: string[];
  layers: { name: string; weights: DumpedWeight[] }[];
  top_level_weight_names: string[] | null;
  blob: Float32Array;
}

/** Reads the file with h5py in another process, as Keras' legacy loader would. */
function dumpWithH5py(file: string): H5pyDump {
  const blobFile = `${file}.weights.bin`;
  const out = execFileSync(PYTHON, [DUMP_SCRIPT, file, blobFile], { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' });
  const bytes = readFileSync(blobFile);
  return { ...(JSON.parse(out) as Omit<H5pyDump, 'blob'>), blob: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) };
}

async function loadBase(): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(fileSystemIO(MOBILENET_035_DIR));
}

/** The classic tutorial's head: Conv2D(32, 3x3, relu) -> Dropout(0.2) -> GlobalAveragePooling2D -> Dense(N, softmax). */
function classicHead(features: tfl.SymbolicTensor, classes: number): tfl.SymbolicTensor {
  let x = tfl.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }).apply(features) as tfl.SymbolicTensor;
  x = tfl.layers.dropout({ rate: 0.2 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  return tfl.layers.dense({ units: classes, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor;
}

async function flatClassifier(): Promise<tfl.LayersModel> {
  const base = await loadBase();
  for (const layer of base.layers) layer.trainable = false;
  return tfl.model({ inputs: base.inputs, outputs: classicHead(base.outputs[0], PEOPLE.length) });
}

async function nestedClassifier(baseTrainable: boolean): Promise<tfl.LayersModel> {
  const base = await loadBase();
  base.trainable = baseTrainable;
  const input = tfl.input({ shape: [224, 224, 3] });
  return tfl.model({ inputs: input, outputs: classicHead(base.apply(input) as tfl.SymbolicTensor, PEOPLE.length) });
}

async function valPhotos(): Promise<string[]> {
  return PEOPLE.flatMap((person) => readdirSync(path.join(FIVE_CELEBRITIES, 'val', person)).slice(0, 2).map((f) => path.join(FIVE_CELEBRITIES, 'val', person, f)));
}

/** MobileNetV2 input: 224x224 RGB scaled to [-1, 1]. */
async function mobilenetBatch(files: string[]): Promise<tf.Tensor4D> {
  const images = await Promise.all(files.map(async (f) => resizeSquare(await readImageFile(f), 224)));
  return tf.tidy(() => tf.sub(tf.div(tf.stack(images.map((img) => tf.tensor3d(img.data, [224, 224, 3], 'float32'))), 127.5), 1)) as tf.Tensor4D;
}

/** A stand-in for 1024-d face embeddings from real photos: 32x32 grey pixels in [0, 1]. */
async function greyVectors(files: string[]): Promise<tf.Tensor2D> {
  const images = await Promise.all(files.map(async (f) => resizeSquare(await readImageFile(f), 32)));
  return tf.tidy(() => tf.div(tf.reshape(tf.mean(tf.stack(images.map((img) => tf.tensor3d(img.data, [32, 32, 3], 'float32'))), 3), [-1, 1024]), 255)) as tf.Tensor2D;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Every layer's weights as h5py read them equal the TF.js model's, in Keras' load order and naming. */
function assertWeightsMatch(model: tfl.LayersModel, dump: H5pyDump): void {
  assert.deepEqual(dump.layer_names, model.layers.map((l) => l.name), 'layer_names in model.layers order');
  assert.deepEqual(dump.groups, [...model.layers.map((l) => l.name), 'top_level_model_weights'].sort());
  assert.deepEqual(dump.top_level_weight_names, []);
  let worst = 0;
  let count = 0;
  dump.layers.forEach((saved, i) => {
    const weights = model.layers[i].weights;
    assert.deepEqual(saved.weights.map((w) => w.name), weights.map((w) => `${w.originalName}:0`), `weight names of ${saved.name}`);
    saved.weights.forEach((w, j) => {
      assert.equal(w.dtype, 'float32');
      assert.deepEqual(w.shape, weights[j].shape);
      worst = Math.max(worst, maxAbsDiff(dump.blob.subarray(w.offset / 4, w.offset / 4 + w.length), weights[j].read().dataSync()));
      count++;
    });
  });
  assert.equal(count, model.weights.length);
  assert.equal(worst, 0, 'max abs diff of weights');
}

function assertKerasFileAttributes(dump: H5pyDump): void {
  assert.equal(dump.keras_version, '2.15.0');
  assert.equal(dump.backend, 'tensorflow');
  assert.equal(dump.weights_keras_version, '2.15.0');
  assert.equal(dump.weights_backend, 'tensorflow');
  // What h5py 3 writes under Keras: model_config as ASCII vlen bytes, names as fixed-length bytes.
  assert.deepEqual(dump.types.model_config, { class: 'string', variable: true, ascii: true });
  assert.match(dump.types.layer_names_numpy, /^\|S\d+$/);
  assert.deepEqual(dump.libver, ['earliest', 'v110']);
}

async function assertSamePredictions(original: tfl.LayersModel, file: string, input: tf.Tensor): Promise<tfl.LayersModel> {
  const loaded = await loadKerasH5(file);
  const [expected, actual] = [original.predict(input) as tf.Tensor, loaded.predict(input) as tf.Tensor];
  const diff = maxAbsDiff(expected.dataSync(), actual.dataSync());
  tf.dispose([expected, actual]);
  assert.ok(diff <= 1e-6, `predictions differ by ${diff}`);
  assert.deepEqual(loaded.layers.map((l) => l.name), original.layers.map((l) => l.name));
  return loaded;
}

before(async () => {
  assert.equal(await initEngine('wasm'), 'wasm');
});
after(() => rmSync(workDir, { recursive: true, force: true }));

test('MobileNetV2 0.35 + classic head, flat graph: h5py reads every weight and the Keras config; loadKerasH5 predicts the same', { skip }, async () => {
  const model = await flatClassifier();
  const file = path.join(workDir, 'flat', 'fine_tuning.h5');
  await saveKerasH5(model, file, { labels: PEOPLE });
  assert.deepEqual(readdirSync(path.dirname(file)), ['fine_tuning.h5'], 'no temp file left beside the model');

  const dump = dumpWithH5py(file);
  assertKerasFileAttributes(dump);
  assert.deepEqual(dump.class_names, PEOPLE);
  const config = dump.model_config;
  assert.equal(config.class_name, 'Functional');
  const layers = config.config.layers ?? [];
  assert.equal(layers.length, 155 + 4);
  assert.deepEqual(layers.slice(-4).map((l) => l.class_name), ['Conv2D', 'Dropout', 'GlobalAveragePooling2D', 'Dense']);
  assert.equal(layers.filter((l) => l.class_name === 'DepthwiseConv2D').length, 17);
  assert.ok(layers.slice(1, 155).every((l) => l.config.trainable === false), 'frozen base layers saved as trainable: false');
  assert.equal(layers[155].config.trainable, true);
  assertWeightsMatch(model, dump);

  const input = await mobilenetBatch(await valPhotos());
  await assertSamePredictions(model, file, input);
  input.dispose();
});

for (const baseTrainable of [false, true]) {
  test(`MobileNetV2 0.35 nested as one layer (base trainable: ${baseTrainable}): Keras weight order, names prefixed by inner layers, same predictions`, { skip }, async () => {
    const model = await nestedClassifier(baseTrainable);
    const base = model.layers[1];
    const file = path.join(workDir, `nested-${baseTrainable}.h5`);
    await saveKerasH5(model, file);

    const dump = dumpWithH5py(file);
    assertKerasFileAttributes(dump);
    assert.equal(dump.class_names, null);
    const layers = dump.model_config.config.layers ?? [];
    assert.deepEqual(layers.map((l) => l.class_name), ['InputLayer', 'Functional', 'Conv2D', 'Dropout', 'GlobalAveragePooling2D', 'Dense']);
    const inner = layers[1].config.layers ?? [];
    assert.equal(inner.length, 155);
    // Keras propagates model.trainable to every sublayer, and loads weights in that light.
    assert.ok(inner.slice(1).every((l) => l.config.trainable === baseTrainable));
    assertWeightsMatch(model, dump);

    const nestedNames = dump.layers[1].weights.map((w) => w.name);
    assert.equal(nestedNames[0], 'Conv1/kernel:0');
    const isMovingStat = (name: string) => /\/moving_(mean|variance):0$/.test(name);
    const firstStat = nestedNames.findIndex(isMovingStat);
    if (baseTrainable) {
      // Keras' _legacy_weights on a trainable nested model: all trainable weights, then all non-trainable.
      assert.ok(nestedNames.slice(firstStat).every(isMovingStat));
    } else {
      // A frozen nested model: layer by layer, as Keras gathers its children's variables.
      assert.deepEqual(nestedNames.slice(1, 5), ['bn_Conv1/gamma:0', 'bn_Conv1/beta:0', 'bn_Conv1/moving_mean:0', 'bn_Conv1/moving_variance:0']);
    }
    assert.equal(nestedNames.length, base.weights.length);

    const input = await mobilenetBatch(await valPhotos());
    const loaded = await assertSamePredictions(model, file, input);
    input.dispose();
    assert.equal(loaded.layers[1].trainableWeights.length > 0, baseTrainable);
  });
}

test('face-embedding head Input(1024) -> Dropout -> Dense(softmax), functional and sequential: round trip through h5py and loadKerasH5', { skip }, async () => {
  const input = tfl.input({ shape: [1024] });
  const dropped = tfl.layers.dropout({ rate: 0.5 }).apply(input) as tfl.SymbolicTensor;
  const functional = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: PEOPLE.length, activation: 'softmax' }).apply(dropped) as tfl.SymbolicTensor });
  const sequential = tfl.sequential({ layers: [tfl.layers.dropout({ rate: 0.5, inputShape: [1024] }), tfl.layers.dense({ units: PEOPLE.length, activation: 'softmax' })] });
  const vectors = await greyVectors(await valPhotos());

  for (const [kind, model] of [['functional', functional], ['sequential', sequential]] as const) {
    const file = path.join(workDir, `head-${kind}.h5`);
    await saveKerasH5(model, file, { labels: PEOPLE });
    const dump = dumpWithH5py(file);
    assertKerasFileAttributes(dump);
    assert.deepEqual(dump.class_names, PEOPLE);
    assert.equal(dump.model_config.class_name, kind === 'functional' ? 'Functional' : 'Sequential');
    const classes = (dump.model_config.config.layers ?? []).map((l) => l.class_name);
    assert.deepEqual(classes, kind === 'functional' ? ['InputLayer', 'Dropout', 'Dense'] : ['Dropout', 'Dense']);
    const dense = dump.model_config.config.layers?.at(-1)?.config;
    assert.equal(dense?.units, PEOPLE.length);
    assert.equal(dense?.activation, 'softmax');
    assertWeightsMatch(model, dump);
    await assertSamePredictions(model, file, vectors);
    assert.deepEqual(await readKerasH5Labels(file), PEOPLE);
  }
  vectors.dispose();
});

/**
 * The .h5 run forward by numpy alone in another process (test/support/h5-numpy-forward.py: h5py
 * reads the layer config and weights, numpy computes each Keras layer): no Keras, no facetrain.
 */
function forwardWithNumpy(file: string, inputs: tf.Tensor): { name: string; values: Float32Array }[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'facetrain-h5-numpy-'));
  try {
    const [inputFile, outputFile] = [path.join(dir, 'inputs.bin'), path.join(dir, 'outputs.bin')];
    writeFileSync(inputFile, inputs.dataSync() as Float32Array);
    const run = spawnSync(PYTHON, [NUMPY_FORWARD_SCRIPT, file, inputFile, inputs.shape.join(','), outputFile], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const bytes = readFileSync(outputFile);
    const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    let offset = 0;
    return (JSON.parse(run.stdout) as { name: string; shape: number[] }[]).map(({ name, shape }) => {
      const size = shape.reduce((a, b) => a * b, 1);
      offset += size;
      return { name, values: all.subarray(offset - size, offset) };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Keras layer classes the pipeline .h5 of a base must contain beyond Conv2D/Dense: its PReLUs and mirror image, the per-person maximum. */
const PIPELINE_KERAS_CLASSES = { faceres: ['GlobalMaxPooling1D', 'UnitNormalization'], mobilefacenet: ['GlobalMaxPooling1D', 'UnitNormalization', 'PReLU', 'Permute', 'Add'] } as const;

for (const base of ['faceres', 'mobilefacenet'] as const) {
  test(`${base} model as Keras layers (the pipeline's embedding, probabilities and scores, described in attributes): h5py reads it, loadKerasH5 and a numpy forward pass of it compute what the exported ONNX does`, { skip }, async () => {
    const tiny = await trainTinyModel(['ben_afflek', 'madonna'], { base, photosPerPerson: 4 });
    try {
      const outDir = path.join(tiny.root, 'export');
      const [file] = await exportModelDir(tiny.modelDir, ['h5', 'onnx'], { outDir });
      const dump = dumpWithH5py(file!);
      assertKerasFileAttributes(dump);
      assert.deepEqual(dump.class_names, tiny.people);
      assert.ok(dump.root_attrs.includes('facetrain.pipeline') && dump.root_attrs.includes('unknown.score'), dump.root_attrs.join(', '));
      const classes = new Set((dump.model_config.config.layers ?? []).map((l) => l.class_name));
      for (const c of PIPELINE_KERAS_CLASSES[base]) assert.ok(classes.has(c), `${c} in ${[...classes].join(', ')}`);
      const loaded = await loadKerasH5(file!);
      assertWeightsMatch(loaded, dump);
      const { input: spec } = JSON.parse(readFileSync(path.join(tiny.modelDir, 'facetrain.json'), 'utf8')) as { input: { size: number; mean: number; std: number } };
      const { inputs } = await loadPhotos('val', { size: spec.size, mean: [spec.mean, spec.mean, spec.mean], std: [spec.std, spec.std, spec.std] }, 2);
      const ort = await import('onnxruntime-node');
      const session = await ort.InferenceSession.create(path.join(outDir, 'model.onnx'));
      const onnx = await session.run({ input: new ort.Tensor('float32', inputs.dataSync() as Float32Array, inputs.shape) });
      const actual = loaded.predict(inputs) as tf.Tensor[];
      const numpy = forwardWithNumpy(file!, inputs);
      assert.equal(numpy.length, 3);
      ['embedding', 'probabilities', 'scores'].forEach((name, i) => {
        const diff = maxAbsDiff(actual[i]!.dataSync(), onnx[name]!.data as Float32Array);
        assert.ok(diff <= 1e-4, `${base} ${name}: .h5 and ONNX differ by ${diff}`);
        const numpyDiff = maxAbsDiff(numpy[i]!.values, onnx[name]!.data as Float32Array);
        assert.ok(numpyDiff <= 1e-4, `${base} ${name}: the .h5 run by numpy (${numpy[i]!.name}) and ONNX differ by ${numpyDiff}`);
      });
      tf.dispose([inputs, ...actual]);
      loaded.dispose();
    } finally {
      rmSync(tiny.root, { recursive: true, force: true });
    }
  });
}

test('user mistakes: wrong label count, missing file, not an HDF5 file', async () => {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [4] })] });
  await assert.rejects(saveKerasH5(model, path.join(workDir, 'bad.h5'), { labels: ['a', 'b'] }), (err: FacetrainError) => err.code === 'FT_ERR_INVALID_OPTION');
  assert.ok(!readdirSync(workDir).includes('bad.h5'));
  await assert.rejects(loadKerasH5(path.join(workDir, 'missing.h5')), (err: FacetrainError) => err.code === 'FT_ERR_MODEL' && /missing\.h5/.test(err.message));
  const notH5 = path.join(workDir, 'not-h5.h5');
  writeFileSync(notH5, 'plain text');
  await assert.rejects(loadKerasH5(notH5), (err: FacetrainError) => err.code === 'FT_ERR_MODEL' && /not an HDF5 file/.test(err.message));
});
