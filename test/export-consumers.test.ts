import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { train } from '../src/api/train.js';
import { TRAIN_DEFAULTS } from '../src/config.js';
import { exportModelDir } from '../src/api/export.js';
import { readOnnxMetadata } from '../src/graph/onnx.js';
import { readImageBytes, readImageFile } from '../src/image/decode.js';
import { facesAsSeen, loadRecognizer, type FaceResult } from '../src/recognize/recognizer.js';
import { FIVE_CELEBRITIES, needsShared, tempDir } from './support/shared.js';
import { filesIn, mixedPhotos } from './support/consumer-photos.js';
import { runFacetrain } from './support/cli.js';
import { loadLiteRtInNode } from './support/litert-shim.js';
import { detectorFor, loadFaceAligner } from '../src/faces/cropper.js';
import { readManifest } from '../src/model-dir/manifest.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const NODE_CONSUMER = path.join(REPO_ROOT, 'examples', 'node-onnx', 'recognize.mjs');

interface ConsumerFace {
  box: { x: number; y: number; width: number; height: number };
  label: string;
  score: number;
}

let exportDir = '';
let modelDir = '';

test('export of the default model: recognizer, detector and pipeline.json, described in their metadata', { skip: needsShared }, async () => {
  modelDir = path.join(await tempDir('consumer-model'), 'm');
  await train({ dataDir: FIVE_CELEBRITIES, outDir: modelDir, seed: 1 });
  exportDir = path.join(await tempDir('consumer-export'), 'export');
  await exportModelDir(modelDir, ['onnx', 'tflite'], { outDir: exportDir });
  const pipeline = JSON.parse(await readFile(path.join(exportDir, 'pipeline.json'), 'utf8')) as { threshold: number; labels: string[]; recognizer: { files: { onnx: string; tflite: string } }; detector: { files: { onnx: string } } };
  assert.equal(pipeline.recognizer.files.tflite, 'model.tflite');
  const manifest = JSON.parse(await readFile(path.join(modelDir, 'facetrain.json'), 'utf8')) as { threshold: number; labels: string[] };
  assert.equal(pipeline.threshold, manifest.threshold);
  assert.deepEqual(pipeline.labels, manifest.labels);
  for (const file of [pipeline.recognizer.files.onnx, pipeline.detector.files.onnx]) {
    const metadata = readOnnxMetadata(await readFile(path.join(exportDir, file)));
    assert.deepEqual(JSON.parse(metadata['facetrain.pipeline']!), pipeline, `${file} carries the description`);
  }
});

/** Runs the Node consumer on `photos` and compares face by face with predict; returns the disagreements (logged). */
async function consumerDisagreements(model: string, exported: string, photos: string[], name: string): Promise<string[]> {
  const recognizer = await loadRecognizer(model);
  const expected: FaceResult[][] = [];
  for (const file of photos) expected.push(await recognizer.predict(await readImageBytes(file), { label: file }));
  recognizer.dispose();

  const run = spawnSync(process.execPath, [NODE_CONSUMER, exported, ...photos], { encoding: 'utf8', timeout: 600_000 });
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; faces: ConsumerFace[] });
  assert.equal(lines.length, photos.length);

  let faces = 0;
  let unknown = 0;
  const disagreements: string[] = [];
  lines.forEach((line, i) => {
    assert.equal(line.file, photos[i]);
    const want = expected[i]!;
    const count = Math.max(want.length, line.faces.length);
    faces += count;
    for (let f = 0; f < count; f++) {
      const [a, b] = [want[f], line.faces[f]];
      if (a?.label === 'unknown') unknown++;
      if (!a || !b || a.label !== b.label) disagreements.push(`${path.basename(line.file)} face ${f}: predict ${a?.label ?? 'none'} ${a?.score.toFixed(3) ?? ''}, consumer ${b?.label ?? 'none'} ${b?.score.toFixed(3) ?? ''}`);
      else assert.ok(Math.abs(a.box.x - b.box.x) < 2 && Math.abs(a.box.width - b.box.width) < 2, `${line.file}: box ${JSON.stringify(b.box)} vs ${JSON.stringify(a.box)}`);
    }
  });
  console.log(`node consumer, ${name}: ${photos.length} photos, ${faces} faces (${unknown} unknown to predict), ${disagreements.length} disagreements${disagreements.length ? `: ${disagreements.join('; ')}` : ''}`);
  assert.ok(photos.length >= 40 && faces >= 40, `${photos.length} photos, ${faces} faces`);
  assert.ok(unknown >= 10, `strangers are in the set (${unknown} unknown faces)`);
  return disagreements;
}

test('Node reference consumer (onnxruntime-node + sharp, no facetrain) gives predict\'s labels, unknown included', { skip: needsShared }, async () => {
  const disagreements = await consumerDisagreements(modelDir, exportDir, await mixedPhotos(), `default base (${TRAIN_DEFAULTS.base})`);
  assert.ok(disagreements.length <= 1, disagreements.join('\n'));
});

/** Runs the exported model.tflite in LiteRT.js on the crops predict makes and compares the labels; returns the disagreements (logged). */
async function liteRtDisagreements(model: string, exported: string, name: string): Promise<string[]> {
  const litert = await loadLiteRtInNode();
  const compiled = await litert.loadAndCompile(new Uint8Array(await readFile(path.join(exported, 'model.tflite'))), { accelerator: 'wasm' });
  const pipeline = JSON.parse(await readFile(path.join(exported, 'pipeline.json'), 'utf8')) as { threshold: number; labels: string[] };
  const manifest = await readManifest(model);
  const recognizer = await loadRecognizer(model);
  const detector = await detectorFor(manifest.input);
  const aligner = detector && (await loadFaceAligner(manifest.input));
  let faces = 0;
  let unknown = 0;
  const disagreements: string[] = [];
  for (const file of await mixedPhotos()) {
    const bytes = await readImageBytes(file);
    const [expected, located] = [await recognizer.predict(bytes), await facesAsSeen(bytes, manifest.input, detector, aligner)];
    assert.equal(located.length, expected.length, file);
    for (const [i, { crop }] of located.entries()) {
      const input = new litert.Tensor(Float32Array.from(crop.data, (v) => (v - manifest.input.mean) / manifest.input.std), [1, crop.height, crop.width, 3]);
      const outputs = await compiled.run(input);
      const [probabilities, score] = [outputs[1]!.toTypedArray() as Float32Array, (outputs[3]!.toTypedArray() as Float32Array)[0]!];
      for (const out of outputs) out.delete();
      input.delete();
      const best = probabilities.indexOf(Math.max(...probabilities));
      const label = score >= pipeline.threshold ? pipeline.labels[best]! : 'unknown';
      faces++;
      if (expected[i]!.label === 'unknown') unknown++;
      if (label !== expected[i]!.label) disagreements.push(`${path.basename(file)} face ${i}: predict ${expected[i]!.label} ${expected[i]!.score.toFixed(3)}, LiteRT ${label} ${score.toFixed(3)}`);
    }
  }
  compiled.delete();
  recognizer.dispose();
  detector?.dispose();
  aligner?.dispose();
  console.log(`LiteRT.js pipeline, ${name}: ${faces} faces (${unknown} unknown to predict), ${disagreements.length} disagreements${disagreements.length ? `: ${disagreements.join('; ')}` : ''}`);
  assert.ok(faces >= 40 && unknown >= 10, `${faces} faces, ${unknown} unknown`);
  return disagreements;
}

test('TFLite float32 of the pipeline in LiteRT.js: on the crops predict makes, the same labels, unknown included', { skip: needsShared }, async () => {
  const disagreements = await liteRtDisagreements(modelDir, exportDir, 'default base');
  assert.ok(disagreements.length <= 1, disagreements.join('\n'));
});

test('the same (Node consumer, LiteRT.js) for the other embedding base than the default: mobilefacenet (TFLite read into the IR, ArcFace template) or faceres (TF.js graph, eyes placed)', { skip: needsShared }, async () => {
  const base = TRAIN_DEFAULTS.base === 'faceres' ? 'mobilefacenet' : 'faceres';
  const model = path.join(await tempDir('consumer-other'), 'm');
  await train({ dataDir: FIVE_CELEBRITIES, outDir: model, seed: 1, base });
  const exported = path.join(await tempDir('consumer-other-export'), 'export');
  await exportModelDir(model, ['onnx', 'tflite'], { outDir: exported });
  const disagreements = await consumerDisagreements(model, exported, await mixedPhotos(), base);
  assert.ok(disagreements.length <= 1, disagreements.join('\n'));
  const liteRt = await liteRtDisagreements(model, exported, base);
  assert.ok(liteRt.length <= 1, liteRt.join('\n'));
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
