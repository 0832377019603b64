import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { exportModelDir } from '../src/api/export.js';
import { train } from '../src/api/train.js';
import { detectorFor, loadFaceAligner } from '../src/faces/cropper.js';
import { landmarkModelPath } from '../src/faces/landmarks.js';
import { readImageBytes } from '../src/image/decode.js';
import { readManifest } from '../src/model-dir/manifest.js';
import { facesAsSeen, loadRecognizer, type FaceResult } from '../src/recognize/recognizer.js';
import { buildServer } from '../src/server/app.js';
import { initEngine, tf } from '../src/tfjs/backend.js';
import { modelFileIO } from '../src/tfjs/model-io.js';
import { blockNetwork, chromiumAvailable, collectPageErrors, isLocalResource, launch } from './support/browser.js';
import { mixedPhotos } from './support/export-agreement.js';
import { composeFrame, FRAME_HEIGHT, FRAME_WIDTH, frameAsCaptured, writeY4m } from './support/fake-camera.js';
import { maxAbsDiff } from './support/export-fixtures.js';
import { FIVE_CELEBRITIES, needsShared, tempDir } from './support/shared.js';

/**
 * The TF.js pipeline export of the default face model: its graphs in Node reproduce predict, and
 * the served page runs them in Chromium (browser mode) to predict's labels on the consumer photos.
 */

const API_KEY = 'browser-test-key';

/** How far from the threshold predict's score of each face in the camera frame must be for the frame to be used. */
const FRAME_SCORE_MARGIN = 0.05;

interface TfjsPipelineJson {
  labels: string[];
  threshold: number;
  recognizer: { files: { tfjs: string } };
  detector: { files: { tfjs: string } };
  landmarks: { files: { tfjs: string }; input: { shape: number[] } };
}

describe('TF.js pipeline export of the default face model', { skip: needsShared }, () => {
  let modelDir = '';
  let tfjsDir = '';
  let pipeline: TfjsPipelineJson;
  let photos: string[] = [];
  /** predict's labels per photo, largest face first */
  const expected = new Map<string, FaceResult[]>();

  before(async () => {
    modelDir = path.join(await tempDir('browser-model'), 'm');
    await train({ dataDir: FIVE_CELEBRITIES, outDir: modelDir, seed: 1 });
    await exportModelDir(modelDir, ['tfjs']);
    tfjsDir = path.join(modelDir, 'export', 'tfjs');
    pipeline = JSON.parse(await readFile(path.join(tfjsDir, 'pipeline.json'), 'utf8')) as TfjsPipelineJson;
    photos = await mixedPhotos();
    const recognizer = await loadRecognizer(modelDir);
    for (const file of photos) expected.set(file, await recognizer.predict(await readImageBytes(file), { label: file }));
    recognizer.dispose();
  });

  test('one graph model per network, the description in the recognizer\'s userDefinedMetadata', async () => {
    const manifest = await readManifest(modelDir);
    assert.deepEqual(pipeline.labels, manifest.labels);
    assert.equal(pipeline.threshold, manifest.threshold);
    const json = JSON.parse(await readFile(path.join(tfjsDir, pipeline.recognizer.files.tfjs), 'utf8')) as { format: string; userDefinedMetadata: Record<string, unknown>; modelTopology: { node: unknown[] } };
    assert.equal(json.format, 'graph-model');
    assert.deepEqual(json.userDefinedMetadata['facetrain.pipeline'], pipeline);
    for (const file of [pipeline.detector.files.tfjs, pipeline.landmarks.files.tfjs]) assert.equal((JSON.parse(await readFile(path.join(tfjsDir, file), 'utf8')) as { format: string }).format, 'graph-model', file);
  });

  test('the landmark network read from ONNX into TF.js gives onnxruntime\'s points on real faces', async () => {
    await initEngine();
    const graph = await loadGraphModel(modelFileIO(path.join(tfjsDir, pipeline.landmarks.files.tfjs)));
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(landmarkModelPath());
    let largest = 0;
    for (const file of photos.slice(0, 8)) {
      const grey = await sharp(file).greyscale().resize(64, 64, { fit: 'fill' }).raw().toBuffer();
      const input = Float32Array.from(grey, (v) => v / 256);
      const onnx = (await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input, [1, 1, 64, 64]) }))[session.outputNames[0]!]!.data as Float32Array;
      const tensor = tf.tensor(input, pipeline.landmarks.input.shape);
      const result = graph.execute(tensor) as tf.Tensor;
      largest = Math.max(largest, maxAbsDiff(onnx, result.dataSync()));
      tf.dispose([tensor, result]);
    }
    graph.dispose();
    await session.release();
    console.log(`landmark network, TF.js graph vs onnxruntime on 8 photos: largest difference ${largest.toExponential(2)} (fractions of the box)`);
    assert.ok(largest < 1e-4, `largest difference ${largest} (points are fractions of the box)`);
  });

  test('in Node, the recognizer graph on predict\'s crops gives predict\'s labels, unknown included', async () => {
    const graph = await loadGraphModel(modelFileIO(path.join(tfjsDir, pipeline.recognizer.files.tfjs)));
    const manifest = await readManifest(modelDir);
    const detector = await detectorFor(manifest.input);
    const aligner = detector && (await loadFaceAligner(manifest.input));
    const { mean, std } = manifest.input;
    let faces = 0;
    let unknown = 0;
    let largestScoreGap = 0;
    const disagreements: string[] = [];
    for (const file of photos) {
      const want = expected.get(file)!;
      const located = await facesAsSeen(await readImageBytes(file), manifest.input, detector, aligner);
      assert.equal(located.length, want.length, file);
      for (const [i, { crop }] of located.entries()) {
        const input = tf.tensor4d(Float32Array.from(crop.data, (v) => (v - mean) / std), [1, crop.height, crop.width, 3]);
        const [probabilities, score] = graph.execute(input, ['probabilities', 'score']) as tf.Tensor[];
        const p = probabilities!.dataSync();
        const s = score!.dataSync()[0]!;
        tf.dispose([input, probabilities!, score!]);
        const label = s >= pipeline.threshold ? pipeline.labels[p.indexOf(Math.max(...p))]! : 'unknown';
        faces++;
        if (want[i]!.label === 'unknown') unknown++;
        largestScoreGap = Math.max(largestScoreGap, Math.abs(s - want[i]!.score));
        if (label !== want[i]!.label) disagreements.push(`${path.basename(file)} face ${i}: predict ${want[i]!.label} ${want[i]!.score.toFixed(3)}, TF.js ${label} ${s.toFixed(3)}`);
      }
    }
    graph.dispose();
    detector?.dispose();
    aligner?.dispose();
    console.log(`TF.js pipeline graph in Node: ${faces} faces (${unknown} unknown to predict), largest score difference ${largestScoreGap.toExponential(2)}, ${disagreements.length} disagreements${disagreements.length ? `: ${disagreements.join('; ')}` : ''}`);
    assert.ok(faces >= 40 && unknown >= 10, `${faces} faces, ${unknown} unknown`);
    assert.ok(disagreements.length <= 1, disagreements.join('\n'));
  });

  describe('the served page in browser mode (Chromium)', { skip: chromiumAvailable() }, () => {
    let app: FastifyInstance;
    let url = '';

    before(async () => {
      app = await buildServer({ modelDir, browserModel: tfjsDir, workers: 1, apiKey: API_KEY });
      await app.listen({ port: 0, host: '127.0.0.1' });
      url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    });

    after(async () => {
      await app?.close();
    });

    /**
     * Chromium (with `args`) on the served page, browser mode chosen; it records what the page asks
     * of anything but the server, its requests to /v1/recognize and its errors. The caller closes it.
     */
    async function pageInBrowserMode(args: string[] = []) {
      const browser = await launch({ offline: false, args });
      try {
        const outside = await blockNetwork(browser.context, (u) => isLocalResource(u) || u.startsWith(`${url}/`));
        const page = await browser.context.newPage();
        const errors = collectPageErrors(page);
        const recognitions: string[] = [];
        page.on('request', (request) => {
          if (request.url().includes('/v1/recognize')) recognitions.push(request.url());
        });
        await page.goto(url);
        await page.getByText(/Ready: \d+ people known/).waitFor();
        await page.getByLabel('In this browser (TF.js)').check();
        return { browser, page, errors, recognitions, outside };
      } catch (err) {
        await browser.close();
        throw err;
      }
    }

    test('detects, aligns, embeds and decides unknown in the browser: predict\'s labels on the consumer photos', async (t) => {
      const { browser, page, errors, recognitions, outside } = await pageInBrowserMode();
      try {
        let faces = 0;
        let unknown = 0;
        const disagreements: string[] = [];
        const started = Date.now();
        for (const file of photos) {
          const name = path.basename(file);
          await page.evaluate(() => {
            document.getElementById('status')!.textContent = '';
          });
          await page.getByLabel('Recognize a photo:').setInputFiles(file);
          await page.locator('#status').filter({ hasText: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `) }).waitFor({ timeout: 120_000 });
          const labels = await page.locator('#faces li[data-label]').evaluateAll((items) => items.map((li) => (li as HTMLElement).dataset.label!));
          const want = expected.get(file)!;
          const count = Math.max(want.length, labels.length);
          faces += count;
          for (let f = 0; f < count; f++) {
            if (want[f]?.label === 'unknown') unknown++;
            if (want[f]?.label !== labels[f]) disagreements.push(`${name} face ${f}: predict ${want[f]?.label ?? 'none'} ${want[f]?.score.toFixed(3) ?? ''}, page ${labels[f] ?? 'none'}`);
          }
        }
        t.diagnostic(`page in browser mode: ${photos.length} photos, ${faces} faces (${unknown} unknown to predict), ${disagreements.length} disagreements${disagreements.length ? `: ${disagreements.join('; ')}` : ''}; ${((Date.now() - started) / photos.length).toFixed(0)} ms per photo on the shared machine`);
        assert.ok(photos.length >= 40 && faces >= 40 && unknown >= 10, `${photos.length} photos, ${faces} faces, ${unknown} unknown`);
        assert.ok(disagreements.length <= 1, disagreements.join('\n'));
        assert.deepEqual(recognitions, [], 'no recognition went to the server');
        assert.match((await page.locator('#latency').textContent()) ?? '', /\(browser\)/);
        assert.deepEqual(errors, []);
        assert.deepEqual(outside, [], 'nothing but the server was contacted');
      } finally {
        await browser.close();
      }
    });

    test('the camera loop in browser mode: a fake camera\'s frames (a known person beside a stranger) get predict\'s names, with no request to the server', async (t) => {
      // the first pair of photos whose frame predict reads as two faces, each clear of the threshold, so
      // the frame's video round trip (4:2:0, resampling in the browser) cannot flip a label
      const knownPhotos = photos.filter((f) => f.startsWith(path.join(FIVE_CELEBRITIES, 'val')));
      const strangers = photos.filter((f) => f.includes(`${path.sep}bbt${path.sep}`));
      const recognizer = await loadRecognizer(modelDir);
      let frame: { rgb: Buffer; want: FaceResult[]; from: string[] } | undefined;
      try {
        for (let i = 0; i < Math.min(knownPhotos.length, strangers.length) && !frame; i++) {
          const from = [knownPhotos[i]!, strangers[i]!];
          const rgb = await composeFrame(from);
          const want = await recognizer.predict(await frameAsCaptured(rgb));
          if (want.length === 2 && want.some((f) => f.label !== 'unknown') && want.some((f) => f.label === 'unknown') && want.every((f) => Math.abs(f.score - pipeline.threshold) >= FRAME_SCORE_MARGIN)) frame = { rgb, want, from };
        }
      } finally {
        recognizer.dispose();
      }
      assert.ok(frame, 'a pair of photos predict reads clearly as a known person and a stranger');
      const video = path.join(await tempDir('fake-camera'), 'frames.y4m');
      await writeY4m(video, frame.rgb);
      const { browser, page, errors, recognitions, outside } = await pageInBrowserMode(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`]);
      try {
        await page.getByRole('button', { name: 'Start camera' }).click();
        // the first frame loads the model into the browser (the status says so), the next ones are recognized at once
        // the loop has recognized several frames once the meter counts more than one recognition
        await page.waitForFunction(() => Number(document.getElementById('fps')!.textContent) > 0, undefined, { timeout: 120_000 });
        const labels = await page.locator('#faces li[data-label]').evaluateAll((items) => items.map((li) => (li as HTMLElement).dataset.label!));
        const { width, height } = await page.locator('#video').evaluate((v) => ({ width: (v as HTMLVideoElement).videoWidth, height: (v as HTMLVideoElement).videoHeight }));
        t.diagnostic(`camera loop in browser mode on ${frame.from.map((f) => path.basename(f)).join(' + ')}: page ${labels.join(', ')}, predict ${frame.want.map((f) => `${f.label} ${f.score.toFixed(3)}`).join(', ')}; last frame ${await page.locator('#latency').textContent()} on the shared machine`);
        assert.deepEqual({ width, height }, { width: FRAME_WIDTH, height: FRAME_HEIGHT }, 'the page plays the fake camera\'s frames');
        assert.deepEqual(labels, frame.want.map((f) => f.label));
        assert.match((await page.locator('#latency').textContent()) ?? '', /\(browser\)/);
        assert.match((await page.locator('#status').textContent()) ?? '', /^Model loaded in the browser/);
        await page.getByRole('button', { name: 'Stop camera' }).click();
        await page.getByText('Camera off.').waitFor();
        assert.deepEqual(recognitions, [], 'no recognition went to the server');
        assert.deepEqual(errors, []);
        assert.deepEqual(outside, [], 'nothing but the server was contacted');
      } finally {
        await browser.close();
      }
    });

    test('the model route serves the pipeline\'s files and nothing else of the folders', async () => {
      const info = (await (await fetch(`${url}/v1/model`)).json()) as { browser: { supported: boolean; kind: string; modelUrl: string } };
      assert.deepEqual(info.browser, { supported: true, kind: 'face-pipeline', modelUrl: '/model/model.json' });
      for (const file of ['model.json', 'weights.bin', 'pipeline.json', pipeline.detector.files.tfjs, pipeline.landmarks.files.tfjs]) assert.equal((await fetch(`${url}/model/${file}`)).status, 200, file);
      for (const file of ['labels.txt', '..%2Ffacetrain.json', '../../gallery.json', 'detector/..%2F..%2F..%2Fgallery.json']) assert.equal((await fetch(`${url}/model/${file}`)).status, 404, file);
    });

    test('a folder that is no TF.js pipeline export is refused at start-up, naming it', async () => {
      await assert.rejects(buildServer({ modelDir, browserModel: modelDir, workers: 1 }), (err: Error & { code?: string }) => err.code === 'FT_ERR_INVALID_OPTION' && err.message.startsWith(`${modelDir} is not a TF.js pipeline export`));
    });

    test('after an enrolment the export is stale: the page is told so and its files are no longer served', async () => {
      const form = new FormData();
      const photo = photos.find((f) => f.includes(`${path.sep}bbt${path.sep}`))!;
      form.append('file', new Blob([new Uint8Array(await readFile(photo))], { type: 'image/png' }), path.basename(photo));
      const enrolled = await fetch(`${url}/v1/people/stranger/photos`, { method: 'POST', headers: { 'x-api-key': API_KEY }, body: form });
      assert.equal(enrolled.status, 201, await enrolled.text());
      const info = (await (await fetch(`${url}/v1/model`)).json()) as { browser: { supported: boolean; reason: string } };
      assert.equal(info.browser.supported, false);
      assert.match(info.browser.reason, /export/);
      assert.equal((await fetch(`${url}/model/model.json`)).status, 404);
    });
  });
});
