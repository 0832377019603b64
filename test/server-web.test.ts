import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { buildServer } from '../src/server/app.js';
import { blockNetwork, CHROMIUM_ARGS, CHROMIUM_PATH, chromiumAvailable, collectPageErrors, isLocalResource } from './support/browser.js';
import { needsShared } from './support/shared.js';
import { trainTinyModel, type TinyModel } from './support/tiny-model.js';

const API_KEY = 'web-test-key';
const PEOPLE = ['ben_afflek', 'madonna'];
/** Screenshots land here (dist/test-output/) for a human to look at. */
const OUTPUT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test-output');

/** RGB to Y'CbCr 4:2:0 (BT.601 studio range, what Chromium's y4m reader expects), chroma averaged over 2x2. */
function toI420(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 1.5);
  const u0 = width * height;
  const v0 = u0 + (width / 2) * (height / 2);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = [rgb[i * 3]!, rgb[i * 3 + 1]!, rgb[i * 3 + 2]!];
    out[i] = Math.round(16 + 0.257 * r + 0.504 * g + 0.098 * b);
  }
  for (let y = 0; y < height; y += 2) {
    for (let x = 0; x < width; x += 2) {
      let [r, g, b] = [0, 0, 0];
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]] as const) {
        const i = ((y + dy) * width + x + dx) * 3;
        r += rgb[i]! / 4;
        g += rgb[i + 1]! / 4;
        b += rgb[i + 2]! / 4;
      }
      const c = (y / 2) * (width / 2) + x / 2;
      out[u0 + c] = Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b);
      out[v0 + c] = Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b);
    }
  }
  return out;
}

/** A short .y4m clip of one photo, which Chromium's fake camera plays in a loop. */
async function y4mOfPhoto(photo: string, file: string, width = 320, height = 240, frames = 10): Promise<void> {
  const rgb = await sharp(photo).removeAlpha().resize(width, height, { fit: 'fill' }).raw().toBuffer();
  const frame = toI420(rgb, width, height);
  const parts: Uint8Array[] = [Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\n`)];
  for (let i = 0; i < frames; i++) parts.push(Buffer.from('FRAME\n'), frame);
  await writeFile(file, Buffer.concat(parts));
}

async function facesListed(page: Page, label: string, mode: 'server' | 'browser'): Promise<void> {
  await page.waitForFunction(
    ([l, m]) => document.querySelector(`#faces li[data-label="${l}"]`) !== null && (document.getElementById('latency')?.textContent ?? '').includes(`(${m})`),
    [label, mode] as const,
    { timeout: 60_000 },
  );
}

describe('facetrain serve: live page in Chromium with a fake camera', { skip: needsShared || chromiumAvailable() }, () => {
  let model: TinyModel;
  let app: FastifyInstance;
  let url: string;
  let browser: Browser;
  let clip: string;
  let expected: string;

  before(async () => {
    model = await trainTinyModel(PEOPLE, { photosPerPerson: 6, epochs: 10 });
    app = await buildServer({ modelDir: model.modelDir, apiKey: API_KEY });
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const photo = model.photos.madonna![0]!;
    clip = path.join(model.root, 'camera.y4m');
    await y4mOfPhoto(photo, clip);
    // the name the server gives the clip's photo is what the page must show; the tiny model knows its own training photo
    const answer = (await (await fetch(`${url}/v1/recognize`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: new Uint8Array(await readFile(photo)) })).json()) as { faces: { label: string }[] };
    expected = answer.faces[0]!.label;
    assert.equal(expected, 'madonna', 'the tiny model recognizes a photo it was trained on');
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS, '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${clip}`],
    });
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    if (model) await rm(model.root, { recursive: true, force: true });
  });

  test('names the person on the live camera, on the server then in the browser, with boxes and FPS', async (t) => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    await context.grantPermissions(['camera'], { origin: url });
    const outside = await blockNetwork(context, (u) => isLocalResource(u) || u.startsWith(`${url}/`));
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(url);
    await page.getByText(/Ready: 2 people known/).waitFor();
    assert.deepEqual(await page.locator('#people-list li').allTextContents(), ['ben_afflek Forget', 'madonna Forget']);

    await page.getByRole('button', { name: 'Start camera' }).click();
    await facesListed(page, expected, 'server');
    await page.waitForFunction(() => Number(document.getElementById('fps')?.textContent) > 0, undefined, { timeout: 30_000 });
    const overlayPainted = await page.evaluate(() => {
      const canvas = document.getElementById('overlay') as HTMLCanvasElement;
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      return canvas.width > 0 && data.some((v, i) => i % 4 === 3 && v > 0);
    });
    assert.ok(overlayPainted, 'a box and name are drawn over the video');
    await mkdir(OUTPUT_DIR, { recursive: true });
    const shot = path.join(OUTPUT_DIR, 'server-web-live.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${shot}; fps ${await page.locator('#fps').textContent()}, last ${await page.locator('#latency').textContent()}`);

    await page.getByLabel('In this browser (TF.js)').check();
    await page.getByText(/Model loaded in the browser \(TF\.js (wasm|cpu) backend\)/).waitFor({ timeout: 60_000 });
    await facesListed(page, expected, 'browser');
    await page.screenshot({ path: path.join(OUTPUT_DIR, 'server-web-browser-mode.png'), fullPage: true });
    t.diagnostic(`browser mode: fps ${await page.locator('#fps').textContent()}, last ${await page.locator('#latency').textContent()}`);

    assert.deepEqual(errors, []);
    assert.deepEqual(outside, [], 'nothing but the server was contacted');
    await context.close();
  });

  test('recognizes an uploaded photo; the enrol panel asks for the key, then shows the server\'s answer', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(url);
    await page.getByText(/Ready: 2 people known/).waitFor();
    const other = model.photos.ben_afflek![0]!;
    const answer = (await (await fetch(`${url}/v1/recognize`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: new Uint8Array(await readFile(other)) })).json()) as { faces: { label: string }[] };
    await page.getByLabel('Recognize a photo:').setInputFiles(other);
    await facesListed(page, answer.faces[0]!.label, 'server');
    assert.deepEqual(errors, []);

    await page.getByLabel('Name').fill('ben_afflek');
    await page.getByLabel('Add photos from files').setInputFiles([other]);
    assert.equal(await page.locator('#shots img').count(), 1);
    await page.getByRole('button', { name: 'Enrol' }).click();
    await page.getByText('Enter the API key first').waitFor();
    assert.ok(await page.getByLabel('API key').evaluate((el) => el === document.activeElement), 'the key field gets focus');
    await page.getByLabel('API key').fill(API_KEY);
    await page.getByRole('button', { name: 'Enrol' }).click();
    // a whole-image classic model keeps no embeddings: the page must pass on the server's refusal
    await page.locator('#status').filter({ hasText: /Enrolment failed: .*only models with a face-embedding base/ }).waitFor();
    await context.close();
  });

  test('an unreadable file gets a message, and the previous photo\'s boxes and names are cleared', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(url);
    await page.getByText(/Ready: 2 people known/).waitFor();
    await page.getByLabel('Recognize a photo:').setInputFiles(model.photos.madonna![0]!);
    await facesListed(page, expected, 'server');
    const broken = path.join(model.root, 'broken.jpg');
    await writeFile(broken, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));
    await page.getByLabel('Recognize a photo:').setInputFiles(broken);
    await page.locator('#status').filter({ hasText: /broken\.jpg cannot be read as an image/ }).waitFor();
    assert.equal(await page.locator('#faces li').count(), 0, 'no names from the previous photo');
    const boxPixels = await page.locator('#overlay').evaluate((canvas: HTMLCanvasElement) => {
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      return data.some((v, i) => i % 4 === 3 && v > 0);
    });
    assert.equal(boxPixels, false, 'no box from the previous photo');
    assert.deepEqual(errors, [], 'no uncaught page error');
    await context.close();
  });
});
