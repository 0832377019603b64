import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { train, type TrainResult } from '../src/api/train.js';
import { loadRecognizer } from '../src/recognize/recognizer.js';
import { readImageFile } from '../src/image/decode.js';
import { FacetrainError } from '../src/errors.js';
import { FIVE_CELEBRITIES, MOBILENET_035_DIR, needsShared, tempDir } from './support/shared.js';
import { runFacetrain } from './support/cli.js';

const QUICK = { base: 'mobilenetv2' as const, detect: false, weights: MOBILENET_035_DIR, epochs: 2, fineTuneEpochs: 0, augment: false };

/** A small dataset of real photos: `count` of each named person from five-celebrities/train. */
async function smallDataset(people: string[], count: number): Promise<string> {
  const root = await tempDir('photos');
  for (const person of people) {
    const from = path.join(FIVE_CELEBRITIES, 'train', person);
    await mkdir(path.join(root, person));
    for (const file of (await readdir(from)).slice(0, count)) await copyFile(path.join(from, file), path.join(root, person, file));
  }
  return root;
}

let celebrities: TrainResult;
let celebritiesDir: string;

before(async () => {
  if (needsShared) return;
  celebritiesDir = path.join(await tempDir('model'), 'celebrities');
  // the recipe with fewer views and one fine-tuning epoch, to keep the suite short
  celebrities = await train({ dataDir: FIVE_CELEBRITIES, outDir: celebritiesDir, base: 'mobilenetv2', detect: false, weights: MOBILENET_035_DIR, fineTuneEpochs: 1, augmentViews: 2, seed: 3 });
});

test('the classic recipe learns five-celebrities well above chance (20 %)', { skip: needsShared }, async () => {
  const valAccuracy = celebrities.manifest.metrics.valAccuracy ?? 0;
  assert.ok(valAccuracy >= 0.8, `validation accuracy ${valAccuracy}`);
  const files = await readdir(celebritiesDir);
  for (const f of ['model.json', 'weights.bin', 'labels.txt', 'facetrain.json', 'history.json', 'eval.json', 'report.html']) assert.ok(files.includes(f), `${f} written`);
  assert.equal(await readFile(path.join(celebritiesDir, 'labels.txt'), 'utf8'), 'ben_afflek\nelton_john\njerry_seinfeld\nmadonna\nmindy_kaling\n');
  const history = JSON.parse(await readFile(path.join(celebritiesDir, 'history.json'), 'utf8'));
  assert.deepEqual(history.phases.map((p: { name: string; epochs: unknown[] }) => [p.name, p.epochs.length]), [['head', 10], ['fine-tune', 1]]);
  assert.ok(celebrities.manifest.threshold > 0 && celebrities.manifest.threshold < 1);
  assert.equal(files.filter((f) => f.endsWith('.tmp')).length, 0);
});

test('save -> load gives the same predictions as the model that was trained', { skip: needsShared }, async () => {
  const { samples } = JSON.parse(await readFile(path.join(celebritiesDir, 'eval.json'), 'utf8')) as { samples: { file: string; topK: { label: string; score: number }[] }[] };
  const recognizer = await loadRecognizer(celebritiesDir);
  for (const sample of samples.slice(0, 10)) {
    const [face] = await recognizer.predict(await readImageFile(sample.file), { topK: 5 });
    for (const expected of sample.topK) {
      const got = face!.topK.find((c) => c.label === expected.label)!;
      assert.ok(Math.abs(got.score - expected.score) < 1e-5, `${sample.file} ${expected.label}: ${got.score} vs ${expected.score}`);
    }
  }
  recognizer.dispose();
});

test('the same seed trains the same model', { skip: needsShared }, async () => {
  const data = await smallDataset(['madonna', 'elton_john'], 5);
  const out = await tempDir('seed');
  const a = await train({ ...QUICK, dataDir: data, outDir: path.join(out, 'a'), seed: 11 });
  const b = await train({ ...QUICK, dataDir: data, outDir: path.join(out, 'b'), seed: 11 });
  const weights = async (dir: string) => readFile(path.join(dir, 'weights.bin'));
  assert.ok((await weights(a.outDir)).equals(await weights(b.outDir)), 'identical weights');
});

test('bad files are listed with a reason and skipped; a PNG named .jpg loads', { skip: needsShared }, async () => {
  const data = await smallDataset(['madonna', 'elton_john'], 4);
  const jpeg = await sharp({ create: { width: 300, height: 300, channels: 3, background: '#a0a0a0' } }).jpeg().toBuffer();
  await writeFile(path.join(data, 'madonna', 'truncated.jpg'), jpeg.subarray(0, 300));
  await writeFile(path.join(data, 'madonna', 'notes.jpg'), 'not an image at all');
  await writeFile(path.join(data, 'elton_john', 'empty.png'), '');
  await sharp({ create: { width: 64, height: 64, channels: 4, background: { r: 9, g: 9, b: 9, alpha: 0.5 } } }).png().toFile(path.join(data, 'elton_john', 'really-a-png.jpg'));
  const result = await train({ ...QUICK, dataDir: data, outDir: path.join(await tempDir('bad'), 'm') });
  assert.deepEqual(result.skipped.map((s) => path.basename(s.file)).sort(), ['empty.png', 'notes.jpg', 'truncated.jpg']);
  for (const s of result.skipped) assert.match(s.reason, /not a readable image/);
});

test('dataset mistakes are clear errors naming the folder', { skip: needsShared }, async () => {
  const one = await smallDataset(['madonna'], 3);
  await assert.rejects(train({ ...QUICK, dataDir: one, outDir: path.join(await tempDir('one'), 'm') }), (e: unknown) => e instanceof FacetrainError && e.code === 'FT_ERR_DATASET' && /at least 2 people/.test(e.message));
  const broken = await smallDataset(['madonna'], 3);
  await mkdir(path.join(broken, 'bob'));
  await writeFile(path.join(broken, 'bob', 'a.jpg'), 'garbage');
  await assert.rejects(train({ ...QUICK, dataDir: broken, outDir: path.join(await tempDir('bob'), 'm') }), (e: unknown) => e instanceof FacetrainError && e.message.startsWith(path.join(broken, 'bob')));
});

test('an existing model directory is kept unless --force', { skip: needsShared }, async () => {
  const data = await smallDataset(['madonna', 'elton_john'], 3);
  const out = path.join(await tempDir('force'), 'm');
  await train({ ...QUICK, dataDir: data, outDir: out });
  const before = await readFile(path.join(out, 'facetrain.json'), 'utf8');
  await assert.rejects(train({ ...QUICK, dataDir: data, outDir: out }), (e: unknown) => e instanceof FacetrainError && e.code === 'FT_ERR_EXISTS');
  assert.equal(await readFile(path.join(out, 'facetrain.json'), 'utf8'), before);
  await train({ ...QUICK, dataDir: data, outDir: out, force: true, seed: 5 });
  assert.notEqual(await readFile(path.join(out, 'facetrain.json'), 'utf8'), before);
});

test('CLI: predict and eval on the trained model; mistakes exit non-zero with one line', { skip: needsShared }, async () => {
  const val = path.join(FIVE_CELEBRITIES, 'val', 'madonna');
  const predicted = runFacetrain(['predict', celebritiesDir, val, '--json']);
  assert.equal(predicted.status, 0, predicted.stderr);
  const lines = predicted.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; faces: { label: string; topK: unknown[] }[] });
  assert.equal(lines.length, 5);
  assert.ok(lines.filter((l) => l.faces[0]!.label === 'madonna').length >= 3);
  assert.equal(lines[0]!.faces[0]!.topK.length, 3);

  const evaluated = runFacetrain(['eval', celebritiesDir, FIVE_CELEBRITIES, '--json']);
  assert.equal(evaluated.status, 0, evaluated.stderr);
  const { report } = JSON.parse(evaluated.stdout) as { report: { totalSamples: number; top1Accuracy: number } };
  assert.equal(report.totalSamples, 25, 'the val/ folder is evaluated');
  assert.equal(report.top1Accuracy, celebrities.manifest.metrics.valAccuracy);

  const notImage = runFacetrain(['predict', celebritiesDir, path.join(celebritiesDir, 'labels.txt')]);
  assert.equal(notImage.status, 4);
  assert.match(notImage.stdout, /labels\.txt: not a readable image/);
  const missing = runFacetrain(['train', '/no/such/photos', '--out', path.join(await tempDir('cli'), 'm')]);
  assert.equal(missing.status, 3);
  assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  assert.match(missing.stderr, /^error: \/no\/such\/photos: cannot read the dataset folder/);
  const badFlag = runFacetrain(['train', FIVE_CELEBRITIES, '--out', '/tmp/x', '--epochs', 'ten']);
  assert.equal(badFlag.status, 2);
  assert.match(badFlag.stderr, /Expected an integer from 1 to 10000 for --epochs but received|Expected a number for --epochs/);
});

test('CLI export: every format of the classic model is written, and ONNX and TF.js give the trained model\'s answer', { skip: needsShared }, async () => {
  const out = path.join(await tempDir('export'), 'exported');
  const run = runFacetrain(['export', celebritiesDir, '--format', 'tfjs,h5,onnx,tflite,tflite-fp16', '--out', out, '--json']);
  assert.equal(run.status, 0, run.stderr);
  const files = await readdir(out);
  for (const f of ['model.h5', 'model.onnx', 'model.tflite', 'model-fp16.tflite', 'labels.txt', 'tfjs']) assert.ok(files.includes(f), `${f} written`);
  const { samples } = JSON.parse(await readFile(path.join(celebritiesDir, 'eval.json'), 'utf8')) as { samples: { file: string; topK: { label: string; score: number }[] }[] };
  const sample = samples[0]!;
  const image = await readImageFile(sample.file);
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(path.join(out, 'model.onnx'));
  const { resizeSquare } = await import('../src/image/decode.js');
  const crop = await resizeSquare(image, 224);
  const input = new ort.Tensor('float32', Float32Array.from(crop.data, (v) => v / 127.5 - 1), [1, 224, 224, 3]);
  const probs = (await session.run({ [session.inputNames[0]!]: input }))[session.outputNames[0]!]!.data as Float32Array;
  const labels = (await readFile(path.join(out, 'labels.txt'), 'utf8')).trim().split('\n');
  for (const c of sample.topK) assert.ok(Math.abs(probs[labels.indexOf(c.label)]! - c.score) < 1e-4, `${c.label}: onnx ${probs[labels.indexOf(c.label)]} vs ${c.score}`);
  const tfl = await import('@tensorflow/tfjs-layers');
  const { fileSystemIO } = await import('../src/tfjs/model-io.js');
  const reloaded = await tfl.loadLayersModel(fileSystemIO(path.join(out, 'tfjs')));
  assert.equal(reloaded.outputs[0]!.shape[1], 5);
  const notAFormat = runFacetrain(['export', celebritiesDir, '--format', 'pdf']);
  assert.equal(notAFormat.status, 2);
  assert.match(notAFormat.stderr, /for --format but received "pdf"/);
});
