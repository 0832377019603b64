import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { loadFaceDetector, scaleFace, searchViews, type DetectedFace, type FaceDetector } from '../src/faces/detect.js';
import { decodeImage, decodeImageScaled, decodeRegion, readImageFile, type RgbImage } from '../src/image/decode.js';
import { finerCropSource } from '../src/faces/finer-crop.js';
import { loadRecognizer } from '../src/recognize/recognizer.js';
import { buildServer } from '../src/server/app.js';
import { FacetrainError } from '../src/errors.js';
import { phonePhoto } from './support/phone-photo.js';
import { needsShared, sharedPath } from './support/shared.js';
import { celebrityPhotos, trainTinyModel, type TinyModel } from './support/tiny-model.js';
import { healthAnsweredWhileBusy } from './support/health-while-busy.js';

async function enlarge(image: RgbImage, factor: number): Promise<RgbImage> {
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(image.width * factor, image.height * factor, { kernel: 'cubic' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

/** For each face of `reference`, the largest distance between its box edges and those of the nearest face of `found` (scaled down by `scale`). */
function edgeDistances(found: DetectedFace[], reference: DetectedFace[], scale = 1): number[] {
  return reference.map(({ box: r }) => Math.min(...found.map(({ box }) => Math.max(
    Math.abs(box.x / scale - r.x),
    Math.abs(box.y / scale - r.y),
    Math.abs((box.x + box.width) / scale - (r.x + r.width)),
    Math.abs((box.y + box.height) / scale - (r.y + r.height)),
  ))));
}

describe('large photos: detection at the size needed', { skip: needsShared }, () => {
  let detector: FaceDetector;
  before(async () => {
    detector = await loadFaceDetector();
  });
  after(() => detector?.dispose());

  test('a scene enlarged 3x (4098x2304, five faces) gives the same faces as the scene itself, boxes within a few pixels', async () => {
    const scene = await readImageFile(sharedPath('datasets', 'bbt-scenes', 'bbt3.jpg'));
    const large = await enlarge(scene, 3);
    const small = await detector.detect(scene);
    const big = await detector.detect(large);
    assert.ok(small.length >= 2, 'the scene has several faces');
    assert.equal(big.length, small.length, 'no face is lost on the large photo');
    // The large photo is searched at 1440 px, the scene at 1366: tiles fall differently, boxes move by a few pixels.
    const distances = edgeDistances(big, small, 3);
    assert.ok(distances.every((d) => d <= 8), `box edges ${distances.map((d) => d.toFixed(1)).join(', ')} px from the scene's (faces about 100 px)`);
  });

  test('12 MP photos are searched at the size their smallest face needs and give the faces of the same photos downscaled', async () => {
    const scenes = [sharedPath('datasets', 'bbt-scenes', 'bbt3.jpg'), sharedPath('datasets', 'five-celebrities', 'val', 'madonna', (await readdir(sharedPath('datasets', 'five-celebrities', 'val', 'madonna'))).sort()[0]!)];
    for (const scene of scenes) {
      // 12 MP (4608x2592 or 4000x3000 and so on: the scene's own aspect) as a phone saves it, and a quarter of it.
      const side = Math.round(Math.sqrt(12e6 * 4 / 3));
      const jpeg = new Uint8Array(await sharp(scene).resize(side, side, { fit: 'inside', kernel: 'cubic' }).jpeg({ quality: 92 }).toBuffer());
      const { image: searched, scale } = await decodeImageScaled(jpeg, 'large.jpg', { maxSide: ({ width, height }) => detector.searchSide(width, height) });
      const stored = await decodeImage(jpeg, 'large.jpg');
      assert.ok(stored.width * stored.height > 8e6, `${stored.width}x${stored.height}`);
      assert.ok(Math.abs(Math.min(searched.width, searched.height) * detector.config.minFaceFraction - detector.config.minFaceSize) < 1, 'searched where its smallest face is minFaceSize pixels');
      const quarter = await decodeImage(new Uint8Array(await sharp(stored.data, { raw: { width: stored.width, height: stored.height, channels: 3 } }).resize(Math.round(stored.width / 4)).png().toBuffer()));
      const small = await detector.detect(quarter);
      const large = (await detector.detect(searched)).map((face) => scaleFace(face, scale, scale));
      assert.ok(small.length >= 1, scene);
      assert.equal(large.length, small.length, `${scene}: no face lost on the large photo`);
      // In the quarter's pixels: the searched copy is 23 % larger than the quarter, so tiles fall differently (the test above allows 8 px).
      const distances = edgeDistances(large, small, stored.width / quarter.width);
      assert.ok(distances.every((d, i) => d <= 0.1 * small[i]!.box.width), `${scene}: box edges ${distances.map((d) => d.toFixed(1)).join(', ')} px from the quarter's (faces ${small.map((f) => f.box.width.toFixed(0)).join(', ')} px)`);
    }
  });

  test('a 12 MP group photo (faces from just above its smallest face searched to large, across tile seams) gives the faces of the photo downscaled, boxes within a few pixels', async (t) => {
    // 4032x3024: the smallest face searched is 1/20 of 3024 = 151 px; the quarter (1008x756) is searched down to 40 px (its 160)
    const [width, height] = [4032, 3024];
    const faceWidths = [200, 250, 330, 430, 560, 720];
    const people = ['ben_afflek', 'elton_john', 'jerry_seinfeld', 'madonna', 'mindy_kaling', 'ben_afflek'];
    const pasted: { input: Buffer; left: number; top: number }[] = [];
    for (const [i, person] of people.entries()) {
      const source = (await celebrityPhotos(person, 2, 'val'))[i === 5 ? 1 : 0]!;
      const photo = await readImageFile(source);
      const [face] = await detector.detect(photo);
      const scale = faceWidths[i]! / face!.box.width;
      const side = 1.6 * face!.box.width;
      const region = { left: Math.max(0, Math.round(face!.box.x + face!.box.width / 2 - side / 2)), top: Math.max(0, Math.round(face!.box.y + face!.box.height / 2 - side / 2)) };
      const cut = { ...region, width: Math.min(photo.width - region.left, Math.round(side)), height: Math.min(photo.height - region.top, Math.round(side)) };
      const input = await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } }).extract(cut).resize(Math.round(cut.width * scale)).png().toBuffer();
      // three columns and two rows of cells, each face off its cell's centre by a different amount
      const [column, row] = [i % 3, Math.floor(i / 3)];
      pasted.push({ input, left: Math.round(column * 1344 + 100 + 90 * i), top: Math.round(row * 1512 + 120 + 60 * i) });
    }
    const jpeg = new Uint8Array(await sharp({ create: { width, height, channels: 3, background: { r: 128, g: 120, b: 110 } } }).composite(pasted).jpeg({ quality: 92 }).toBuffer());
    const { image: searched, scale } = await decodeImageScaled(jpeg, 'group.jpg', { maxSide: ({ width: w, height: h }) => detector.searchSide(w, h) });
    const quarter = await decodeImageScaled(jpeg, 'group.jpg', { maxSide: width / 4 });
    const large = (await detector.detect(searched)).map((face) => scaleFace(face, scale, scale));
    const small = (await detector.detect(quarter.image)).map((face) => scaleFace(face, quarter.scale, quarter.scale));
    assert.equal(small.length, faceWidths.length, `the quarter finds the ${faceWidths.length} faces: ${small.map((f) => f.box.width.toFixed(0)).join(', ')} px`);
    assert.equal(large.length, small.length, 'no face lost on the large photo');
    // In the quarter's pixels (faces 49-168 px there; both lists are in the photo's own pixels): the two
    // sizes sample the faces differently, which moves a box whatever the pyramid: 0.3-5.6 px measured,
    // the most on the 53 px face (5.2 px with the half-tile pyramid at both sizes).
    const distances = edgeDistances(large, small).map((d) => d / 4);
    const widths = small.map((f) => f.box.width / 4);
    t.diagnostic(`box edges ${distances.map((d, i) => `${d.toFixed(1)} (face ${widths[i]!.toFixed(0)})`).join(', ')} px apart at quarter size`);
    assert.ok(distances.every((d) => d <= 6), `box edges ${distances.map((d, i) => `${d.toFixed(1)} (face ${widths[i]!.toFixed(0)})`).join(', ')} px apart at quarter size`);
  });

  test('a region decoded shrunk on load has the pixels of the whole photo decoded at that size', async () => {
    const photo = new Uint8Array(await phonePhoto(sharedPath('datasets', 'bbt', 'penny', 'penny1.png')));
    const whole = (await decodeImageScaled(photo, 'phone.jpg', { maxSide: 2016 })).image;
    const region = { left: 600, top: 1000, width: 300, height: 200 };
    const part = await decodeRegion(photo, 'phone.jpg', { width: whole.width, height: whole.height }, region);
    assert.deepEqual([part.width, part.height], [region.width, region.height]);
    for (let y = 0; y < region.height; y++) {
      const start = ((y + region.top) * whole.width + region.left) * 3;
      assert.deepEqual(part.data.subarray(y * region.width * 3, (y + 1) * region.width * 3), whole.data.subarray(start, start + region.width * 3), `row ${y}`);
    }
  });

  test('detections smaller than the smallest face searched are dropped (a 12 MP photo whose watch BlazeFace took for a 123 px face)', async () => {
    const photo = new Uint8Array(await phonePhoto((await celebrityPhotos('madonna', 1, 'val'))[0]!));
    const { image: searched, scale } = await decodeImageScaled(photo, 'phone.jpg', { maxSide: ({ width, height }) => detector.searchSide(width, height) });
    const smallest = detector.config.minFaceFraction * Math.min(searched.width, searched.height) * scale;
    const faces = (await detector.detect(searched)).map((f) => scaleFace(f, scale, scale));
    assert.equal(faces.length, 1, `faces of ${faces.map((f) => f.box.width.toFixed(0)).join(', ')} px`);
    assert.ok(faces[0]!.box.width >= smallest * 2, `the pasted face (${faces[0]!.box.width.toFixed(0)} px) is found`);
  });

  test('a region at the stored size is the whole decode\'s own pixels, and a face needing the full size is cut from them', async () => {
    const photo = new Uint8Array(await phonePhoto(sharedPath('datasets', 'bbt', 'penny', 'penny1.png')));
    const whole = await decodeImage(photo, 'phone.jpg');
    const region = { left: 600, top: 1000, width: 300, height: 200 };
    const part = await decodeRegion(photo, 'phone.jpg', 'stored', region);
    for (let y = 0; y < region.height; y++) {
      const start = ((y + region.top) * whole.width + region.left) * 3;
      assert.deepEqual(part.data.subarray(y * region.width * 3, (y + 1) * region.width * 3), whole.data.subarray(start, start + region.width * 3), `row ${y}`);
    }
    // a face found on the search-size decode whose crop wants more than the stored pixels: cut from the photo as stored
    const { image: searched, scale } = await decodeImageScaled(photo, 'phone.jpg', { maxSide: ({ width, height }) => detector.searchSide(width, height) });
    const [face] = await detector.detect(searched);
    assert.ok(face, 'the pasted face is found');
    const cut = await finerCropSource(photo, searched, scale, [face], scale * 2);
    const left = Math.round(face.box.x * (whole.width / searched.width) - cut.faces[0]!.box.x);
    const top = Math.round(face.box.y * (whole.height / searched.height) - cut.faces[0]!.box.y);
    assert.deepEqual(cut.image.data.subarray(0, cut.image.width * 3), whole.data.subarray((top * whole.width + left) * 3, (top * whole.width + left + cut.image.width) * 3), 'its first row is the stored photo\'s');
  });

  test('frame views (one rectangle for a 640x480 frame\'s finest level) find the faces of the square tiles, boxes within 0.5 px', async () => {
    const framed = await loadFaceDetector({ frameViews: true }, 'onnx');
    try {
      const views = (rectangles: boolean) => searchViews(640, 480, detector.config, rectangles);
      assert.ok(views(true).length < views(false).length, `${views(true).length} views instead of ${views(false).length}`);
      for (const source of await celebrityPhotos('ben_afflek', 2, 'val')) {
        for (const photoSide of [200, 470]) {
          const frame = await decodeImage(new Uint8Array(await phonePhoto(source, { width: 640, height: 480, photoSide })), 'frame.jpg');
          const [square, rectangle] = [await detector.detect(frame), await framed.detect(frame)];
          assert.equal(rectangle.length, square.length, 'the same faces');
          const distances = edgeDistances(rectangle, square);
          assert.ok(distances.every((d) => d < 0.5), `box edges ${distances.map((d) => d.toFixed(2)).join(', ')} px apart`);
        }
      }
    } finally {
      framed.dispose();
    }
  });

  test('BlazeFace on onnxruntime finds the boxes TF.js finds', async () => {
    const tfjs = await loadFaceDetector({}, 'tfjs');
    try {
      const scene = await readImageFile(sharedPath('datasets', 'bbt-scenes', 'bbt2.jpg'));
      const onnx = await detector.detect(scene);
      const reference = await tfjs.detect(scene);
      assert.equal(onnx.length, reference.length);
      assert.ok(edgeDistances(onnx, reference).every((d) => d < 0.5));
      onnx.forEach((face, i) => assert.ok(Math.abs(face.score - reference[i]!.score) < 1e-3));
    } finally {
      tfjs.dispose();
    }
  });

  test('a 12 MP phone JPEG decodes shrunk on load, and scales back to its own pixels', async () => {
    const photo = await phonePhoto(sharedPath('datasets', 'bbt', 'penny', 'penny1.png'));
    const { image, scale } = await decodeImageScaled(photo, 'phone.jpg', { maxSide: detector.config.maxSide });
    assert.equal(Math.max(image.width, image.height), detector.config.maxSide);
    assert.ok(Math.abs(scale * image.height - 4032) < 1e-6);
    const full = await decodeImage(photo, 'phone.jpg');
    assert.deepEqual([full.width, full.height], [3024, 4032]);
  });
});

describe('image headers are checked before any pixel is decoded', () => {
  test('a 17-byte text PGM claiming 7000x7000 is refused as truncated, not decoded as zeros', async () => {
    const pgm = new TextEncoder().encode('P2\n7000 7000\n255\n');
    assert.equal(pgm.length, 17);
    await assert.rejects(decodeImage(pgm, 'bomb.pgm'), (err) => err instanceof FacetrainError && err.code === 'FT_ERR_IMAGE' && /bomb\.pgm.*truncated/.test(err.message));
    await assert.rejects(decodeImage(pgm, 'bomb.pgm', { maxPixels: 40_000_000 }), (err) => err instanceof FacetrainError && /bomb\.pgm: not a readable image \(7000x7000 is 49000000 pixels, more than the limit of 40000000\)/.test(err.message));
  });

  test('a PNG over the pixel limit is refused from its header', async () => {
    const png = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: '#808080' } }).png().toBuffer();
    await assert.rejects(decodeImage(png, 'big.png', { maxPixels: 30_000_000 }), (err) => err instanceof FacetrainError && /big\.png: not a readable image \(6000x6000 is 36000000 pixels/.test(err.message));
  });
});

describe('facetrain serve: decoding and recognition off the event loop', { skip: needsShared }, () => {
  let model: TinyModel;
  let app: FastifyInstance;
  let url: string;

  before(async () => {
    model = await trainTinyModel(['ben_afflek', 'madonna', 'mindy_kaling'], { base: 'faceres' });
    app = await buildServer({ modelDir: model.modelDir, maxPixels: 40_000_000, maxBodyBytes: 8 * 1024 * 1024 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await app?.close();
    if (model) await rm(model.root, { recursive: true, force: true });
  });

  test('/healthz answers while a 6000x6000 PNG is being recognized, and the photo is recognized like its small original', async () => {
    const original = (await celebrityPhotos('madonna', 1, 'val'))[0]!;
    const jpeg = await phonePhoto(original, { width: 6000, height: 6000, photoSide: 1800 });
    const png = new Uint8Array(await sharp(jpeg).png({ compressionLevel: 1 }).toBuffer());
    let recognized = false;
    const recognition = fetch(`${url}/v1/recognize`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png }).then(async (response) => {
      recognized = true;
      return { status: response.status, body: (await response.json()) as { faces: { label: string; box: { width: number } }[]; image: { width: number } } };
    });
    const answeredWhileBusy = await healthAnsweredWhileBusy(url, () => recognized);
    assert.equal(answeredWhileBusy, 5, 'health checks answer while a large photo is being recognized');
    const { status, body } = await recognition;
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.image.width, 6000);
    const recognizer = await loadRecognizer(model.modelDir);
    try {
      const direct = await recognizer.predict(new Uint8Array(await readFile(original)));
      assert.ok(body.faces.length >= 1);
      assert.equal(body.faces[0]!.label, direct[0]!.label, 'the large photo names the face as the original does');
    } finally {
      recognizer.dispose();
    }
  });

  test('a 17-byte PGM claiming 7000x7000 and a PNG over the limit are 413 from the header alone', async () => {
    const pgm = await fetch(`${url}/v1/recognize`, { method: 'POST', headers: { 'content-type': 'image/x-portable-graymap' }, body: 'P2\n7000 7000\n255\n' });
    assert.equal(pgm.status, 413);
    assert.equal(((await pgm.json()) as { error: { code: string } }).error.code, 'FT_ERR_TOO_MANY_PIXELS');
    const png = await sharp({ create: { width: 7000, height: 7000, channels: 3, background: '#808080' } }).png().toBuffer();
    const big = await fetch(`${url}/v1/recognize`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(png) });
    assert.equal(big.status, 413);
  });
});
