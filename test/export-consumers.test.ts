import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { train } from '../src/api/train.js';
import { TRAIN_DEFAULTS } from '../src/base/index.js';
import { exportModelDir } from '../src/api/export.js';
import { readOnnxMetadata } from '../src/graph/onnx.js';
import { readImageBytes, readImageFile, resizeSquare } from '../src/image/decode.js';
import { loadRecognizer } from '../src/recognize/recognizer.js';
import { FIVE_CELEBRITIES, needsShared, tempDir } from './support/shared.js';
import { runFacetrain } from './support/cli.js';
import { loadLiteRtInNode } from './support/litert-shim.js';
import { readManifest } from '../src/model-dir/manifest.js';
import { readTflite } from '../src/export/tflite-reader.js';
import { unzipStored } from '../src/export/zip.js';
import { type Agreement, agreement, type ConsumerLine, consumerAgreement, filesIn, liteRtWholePipeline, mixedPhotos, NODE_CONSUMER, predictAll, type PredictedFace, predictedFaces, tfliteAnswers } from './support/export-agreement.js';

/**
 * int8 pipeline of the default model, on the crops predict makes: the share of faces with
 * predict's label (unknown included) it must reach. Measured 63/64 (one stranger accepted) and
 * 64/64 in two runs: int8 moves the score by up to 0.17, see README Export; float16 must agree on
 * all faces but one, as float32.
 */
const INT8_MIN_LABEL_AGREEMENT = 0.95;

let exportDir = '';
let modelDir = '';

test('export of the default model: recognizer (float32, float16, int8), detector and pipeline.json, described in their metadata', { skip: needsShared }, async () => {
  modelDir = path.join(await tempDir('consumer-model'), 'm');
  await train({ dataDir: FIVE_CELEBRITIES, outDir: modelDir, seed: 1 });
  exportDir = path.join(await tempDir('consumer-export'), 'export');
  const written: string[] = [];
  await exportModelDir(modelDir, ['onnx', 'tflite', 'tflite-fp16', 'tflite-int8'], { outDir: exportDir, calibration: path.join(FIVE_CELEBRITIES, 'train'), onWritten: (format, file) => written.push(`${format} ${path.basename(file)}`) });
  // progress names each shared file by the runtime that reads it, not by the first format asked for
  for (const line of ['onnx detector.onnx', 'tflite detector.tflite', 'pipeline pipeline.json']) assert.ok(written.includes(line), `${line} in ${written.join(', ')}`);
  if (TRAIN_DEFAULTS.base === 'mobilefacenet') for (const line of ['onnx landmarks.onnx', 'tflite landmarks.tflite']) assert.ok(written.includes(line), `${line} in ${written.join(', ')}`);
  const pipeline = JSON.parse(await readFile(path.join(exportDir, 'pipeline.json'), 'utf8')) as { threshold: number; labels: string[]; recognizer: { files: Record<string, string> }; detector: { files: { onnx: string } } };
  assert.deepEqual(pipeline.recognizer.files, { onnx: 'model.onnx', tflite: 'model.tflite', 'tflite-fp16': 'model-fp16.tflite', 'tflite-int8': 'model-int8.tflite' });
  for (const file of ['model-fp16.tflite', 'model-int8.tflite']) {
    const summary = readTflite(new Uint8Array(await readFile(path.join(exportDir, file))));
    assert.deepEqual(summary.outputs.map((o) => o.name), ['embedding', 'probabilities', 'scores', 'score'], file);
    assert.deepEqual(summary.inputs.map((i) => i.type), ['FLOAT32'], `${file} is fed as the float32 file is`);
  }
  const manifest = JSON.parse(await readFile(path.join(modelDir, 'facetrain.json'), 'utf8')) as { threshold: number; labels: string[] };
  assert.equal(pipeline.threshold, manifest.threshold);
  assert.deepEqual(pipeline.labels, manifest.labels);
  for (const file of [pipeline.recognizer.files.onnx, pipeline.detector.files.onnx]) {
    const metadata = readOnnxMetadata(await readFile(path.join(exportDir, file)));
    assert.deepEqual(JSON.parse(metadata['facetrain.pipeline']!), pipeline, `${file} carries the description`);
  }
});

/** Largest difference between BlazeFace's outputs, logits read as probabilities (what minScore applies to), regressors in input pixels. */
const DETECTOR_TOLERANCE = { probability: 1e-3, pixels: 1e-2 };

test('TFLite detector beside the TFLite recognizers: on every photo\'s whole-photo view, the outputs of detector.onnx', { skip: needsShared }, async () => {
  const pipeline = JSON.parse(await readFile(path.join(exportDir, 'pipeline.json'), 'utf8')) as { detector: { files: { onnx: string; tflite: string } } };
  assert.equal(pipeline.detector.files.tflite, 'detector.tflite');
  const bytes = new Uint8Array(await readFile(path.join(exportDir, pipeline.detector.files.tflite)));
  const { outputs, metadata } = readTflite(bytes);
  assert.deepEqual(metadata && { colorSpace: metadata.colorSpace, imageSize: metadata.imageSize, mean: metadata.mean, std: metadata.std }, { colorSpace: 'RGB', imageSize: 256, mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] }, 'the TFLite metadata says how views are fed');
  assert.deepEqual(JSON.parse(new TextDecoder().decode(unzipStored(bytes).get('pipeline.json'))), JSON.parse(await readFile(path.join(exportDir, 'pipeline.json'), 'utf8')), 'pipeline.json is packed in detector.tflite');
  const litert = await loadLiteRtInNode();
  const compiled = await litert.loadAndCompile(bytes, { accelerator: 'wasm' });
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(path.join(exportDir, pipeline.detector.files.onnx));
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  const worst = { probability: 0, pixels: 0 };
  for (const file of await mixedPhotos()) {
    const view = await resizeSquare(await readImageFile(file), 256);
    const pixels = Float32Array.from(view.data, (v) => v / 127.5 - 1);
    const expected = await session.run({ pixels: new ort.Tensor('float32', pixels, [1, 256, 256, 3]) });
    const input = new litert.Tensor(pixels, [1, 256, 256, 3]);
    const actual = await compiled.run(input);
    outputs.forEach((output, i) => {
      const [a, b] = [actual[i]!.toTypedArray() as Float32Array, expected[output.name]!.data as Float32Array];
      assert.equal(a.length, b.length, output.name);
      const logits = output.shape.at(-1) === 1;
      for (let k = 0; k < a.length; k++) {
        if (logits) worst.probability = Math.max(worst.probability, Math.abs(sigmoid(a[k]!) - sigmoid(b[k]!)));
        else worst.pixels = Math.max(worst.pixels, Math.abs(a[k]! - b[k]!));
      }
    });
    for (const out of actual) out.delete();
    input.delete();
  }
  compiled.delete();
  console.log(`detector.tflite vs detector.onnx: max probability difference ${worst.probability.toExponential(2)}, max regressor difference ${worst.pixels.toExponential(2)} px`);
  assert.ok(worst.probability <= DETECTOR_TOLERANCE.probability && worst.pixels <= DETECTOR_TOLERANCE.pixels, JSON.stringify(worst));
});

/** Compares a consumer's answers with predict's, face by face (box and label); returns the disagreements (logged). */
async function disagreementsWithPredict(model: string, photos: string[], lines: ConsumerLine[], name: string): Promise<string[]> {
  assert.deepEqual(lines.map((l) => l.file), photos);
  const { faces, unknown, disagreements, boxesOff } = consumerAgreement(await predictAll(model, photos), lines);
  console.log(`${name}: ${photos.length} photos, ${faces} faces (${unknown} unknown to predict), ${disagreements.length} disagreements${disagreements.length ? `: ${disagreements.join('; ')}` : ''}`);
  assert.deepEqual(boxesOff, [], 'boxes within 2 px of predict\'s');
  assert.ok(photos.length >= 40 && faces >= 40, `${photos.length} photos, ${faces} faces`);
  assert.ok(unknown >= 10, `strangers are in the set (${unknown} unknown faces)`);
  return disagreements;
}

/** Runs the Node consumer as a child process on `photos` and compares with predict. */
async function consumerDisagreements(model: string, exported: string, photos: string[], name: string): Promise<string[]> {
  const run = spawnSync(process.execPath, [NODE_CONSUMER, exported, ...photos], { encoding: 'utf8', timeout: 600_000 });
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as ConsumerLine);
  return disagreementsWithPredict(model, photos, lines, `node consumer, ${name}`);
}

test('Node reference consumer (onnxruntime-node + sharp, no facetrain) gives predict\'s labels, unknown included', { skip: needsShared }, async () => {
  const disagreements = await consumerDisagreements(modelDir, exportDir, await mixedPhotos(), `default base (${TRAIN_DEFAULTS.base})`);
  assert.ok(disagreements.length <= 1, disagreements.join('\n'));
});

test('TFLite files alone in LiteRT.js: detector.tflite, landmarks.tflite and model.tflite, run by the reference consumer\'s steps, give predict\'s labels, unknown included', { skip: needsShared }, async () => {
  const pipeline = JSON.parse(await readFile(path.join(exportDir, 'pipeline.json'), 'utf8')) as { landmarks?: { files: Record<string, string> } };
  if (TRAIN_DEFAULTS.base === 'mobilefacenet') {
    assert.equal(pipeline.landmarks?.files.tflite, 'landmarks.tflite', 'the default model aligns with the landmark network, written as TFLite');
    const landmarks = readTflite(new Uint8Array(await readFile(path.join(exportDir, 'landmarks.tflite'))));
    assert.deepEqual(landmarks.inputs.map((i) => i.shape), [[1, 64, 64, 1]]);
    assert.deepEqual(landmarks.metadata && { colorSpace: landmarks.metadata.colorSpace, imageSize: landmarks.metadata.imageSize, mean: landmarks.metadata.mean, std: landmarks.metadata.std }, { colorSpace: 'GRAYSCALE', imageSize: 64, mean: [0], std: [256] }, 'the TFLite metadata says how faces are fed');
  }
  const photos = await mixedPhotos();
  const lines = await liteRtWholePipeline(exportDir, 'tflite', photos);
  const disagreements = await disagreementsWithPredict(modelDir, photos, lines, `LiteRT.js, TFLite files only, default base (${TRAIN_DEFAULTS.base})`);
  assert.ok(disagreements.length <= 1, disagreements.join('\n'));
});

/** Runs an exported pipeline .tflite in LiteRT.js on the crops predict makes and compares the labels (logged). */
async function liteRtAgreement(faces: PredictedFace[], exported: string, file: string, name: string): Promise<Agreement> {
  const pipeline = JSON.parse(await readFile(path.join(exported, 'pipeline.json'), 'utf8')) as { threshold: number; labels: string[]; recognizer: { input: { mean: number; std: number } } };
  const { mean, std } = pipeline.recognizer.input;
  const answers = await tfliteAnswers(await loadLiteRtInNode(), new Uint8Array(await readFile(path.join(exported, file))), faces, { ...pipeline, mean, std });
  const result = agreement(faces, answers);
  const { disagreements } = result;
  console.log(`LiteRT.js ${file}, ${name}: ${result.faces} faces (${result.unknown} unknown to predict), ${disagreements.length} disagreements, max score difference ${result.maxScoreDifference.toExponential(2)}${disagreements.length ? `: ${disagreements.join('; ')}` : ''}`);
  assert.ok(result.faces >= 40 && result.unknown >= 10, `${result.faces} faces, ${result.unknown} unknown`);
  return result;
}

test('TFLite of the pipeline in LiteRT.js: on the crops predict makes, float32 and float16 give the same labels (unknown included), int8 at least the floor', { skip: needsShared }, async () => {
  const faces = await predictedFaces(modelDir, await mixedPhotos());
  for (const file of ['model.tflite', 'model-fp16.tflite']) {
    const { disagreements } = await liteRtAgreement(faces, exportDir, file, 'default base');
    assert.ok(disagreements.length <= 1, `${file}: ${disagreements.join('\n')}`);
  }
  const int8 = await liteRtAgreement(faces, exportDir, 'model-int8.tflite', 'default base');
  assert.ok(int8.sameLabel / int8.faces >= INT8_MIN_LABEL_AGREEMENT, `int8: ${int8.sameLabel}/${int8.faces} labels as predict's\n${int8.disagreements.join('\n')}`);
});

test('the same (Node consumer, LiteRT.js) for the other embedding base than the default: mobilefacenet (TFLite read into the IR, ArcFace template) or faceres (TF.js graph, eyes placed)', { skip: needsShared }, async () => {
  const base = TRAIN_DEFAULTS.base === 'faceres' ? 'mobilefacenet' : 'faceres';
  const model = path.join(await tempDir('consumer-other'), 'm');
  await train({ dataDir: FIVE_CELEBRITIES, outDir: model, seed: 1, base });
  const exported = path.join(await tempDir('consumer-other-export'), 'export');
  await exportModelDir(model, ['onnx', 'tflite'], { outDir: exported });
  const disagreements = await consumerDisagreements(model, exported, await mixedPhotos(), base);
  assert.ok(disagreements.length <= 1, disagreements.join('\n'));
  const liteRt = await liteRtAgreement(await predictedFaces(model, await mixedPhotos()), exported, 'model.tflite', base);
  assert.ok(liteRt.disagreements.length <= 1, liteRt.disagreements.join('\n'));
});

test('CLI crop writes the crops predict classifies: the exported recognizer scores them as predict does', { skip: needsShared }, async () => {
  const photo = path.join(FIVE_CELEBRITIES, 'val', 'madonna');
  const out = await tempDir('crops');
  const run = runFacetrain(['crop', photo, '--out', out, '--model', modelDir, '--json']);
  assert.equal(run.status, 0, run.stderr);
  const results = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; crops: { file: string }[] });
  assert.equal(results.length, (await filesIn(photo)).length);
  const recognizer = await loadRecognizer(modelDir);
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(path.join(exportDir, 'model.onnx'));
  for (const { file, crops } of results) {
    const [face] = await recognizer.predict(await readImageBytes(file));
    const crop = await readImageFile(crops[0]!.file);
    const { mean, std } = (await readManifest(modelDir)).input;
    const outputs = await session.run({ input: new ort.Tensor('float32', Float32Array.from(crop.data, (v) => (v - mean) / std), [1, crop.height, crop.width, 3]) });
    const score = (outputs.score!.data as Float32Array)[0]!;
    assert.ok(Math.abs(score - face!.score) < 1e-3, `${file}: crop scored ${score}, predict ${face!.score}`);
  }
  recognizer.dispose();
  const noOut = runFacetrain(['crop', photo]);
  assert.equal(noOut.status, 2);
  assert.match(noOut.stderr, /^error: crop needs --out/);
});

test('CLI info describes a model directory, its export and an exported file; predict recurses into sub-folders', { skip: needsShared }, async () => {
  const manifest = JSON.parse(await readFile(path.join(modelDir, 'facetrain.json'), 'utf8')) as { threshold: number; labels: string[] };
  for (const target of [modelDir, exportDir, path.join(exportDir, 'model.onnx')]) {
    const run = runFacetrain(['info', target, '--json']);
    assert.equal(run.status, 0, run.stderr);
    const { facts } = JSON.parse(run.stdout) as { facts: Record<string, string> };
    assert.match(facts.threshold!, new RegExp(`^${String(manifest.threshold).replace('.', '\\.')}`), target);
    assert.ok(manifest.labels.every((l) => facts.people!.includes(l)), target);
  }
  const missing = runFacetrain(['info', '/no/such/model']);
  assert.equal(missing.status, 5);
  assert.match(missing.stderr, /^error: \/no\/such\/model: no such file or folder/);

  const predicted = runFacetrain(['predict', modelDir, path.join(FIVE_CELEBRITIES, 'val'), '--json']);
  assert.equal(predicted.status, 0, predicted.stderr);
  assert.equal(predicted.stdout.trim().split('\n').length, (await Promise.all((await filesIn(path.join(FIVE_CELEBRITIES, 'val'))).map(filesIn))).flat().length);
  const empty = await tempDir('empty');
  await mkdir(path.join(empty, 'person'));
  const none = runFacetrain(['predict', modelDir, empty]);
  assert.equal(none.status, 4);
  assert.match(none.stderr, /^error: .*: no photo found/);
});
