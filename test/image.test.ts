import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import sharp from 'sharp';
import { encode as encodeBmp } from 'bmp-ts';
import { decodeImage, readImageFile } from '../src/image/decode.js';
import { FacetrainError } from '../src/errors.js';
import { needsShared, sharedPath } from './support/shared.js';

test('decodes greyscale PGM (orl) and GIF (yale) to RGB', { skip: needsShared }, async () => {
  const pgm = await readImageFile(sharedPath('datasets', 'orl', 's1', '1.pgm'));
  assert.deepEqual([pgm.width, pgm.height, pgm.data.length], [92, 112, 92 * 112 * 3]);
  const yaleDir = sharedPath('datasets', 'yale', 'subject01');
  const gif = await readImageFile(`${yaleDir}/${readdirSync(yaleDir)[0]}`);
  assert.deepEqual([gif.width, gif.height], [320, 243]);
});

test('applies EXIF orientation', async () => {
  // 4 wide x 2 high, stored with orientation 6 (rotate 90° clockwise to display): shows 2 x 4.
  const jpeg = await sharp({ create: { width: 4, height: 2, channels: 3, background: '#808080' } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .toBuffer();
  const img = await decodeImage(jpeg);
  assert.deepEqual([img.width, img.height], [2, 4]);
});

test('decodes RGBA and 16-bit PNG, WebP and BMP to 8-bit RGB', async () => {
  const rgba = await sharp({ create: { width: 3, height: 3, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
  const flattened = await decodeImage(rgba);
  assert.deepEqual([...flattened.data.slice(0, 3)], [255, 255, 255], 'transparent pixels become white');
  const png16 = await sharp({ create: { width: 2, height: 2, channels: 3, background: '#ff0000' } }).toColourspace('rgb16').png().toBuffer();
  assert.deepEqual([...(await decodeImage(png16)).data.slice(0, 3)], [255, 0, 0]);
  const webp = await sharp({ create: { width: 5, height: 4, channels: 3, background: '#00ff00' } }).webp({ lossless: true }).toBuffer();
  assert.deepEqual([...(await decodeImage(webp)).data.slice(0, 3)], [0, 255, 0]);
  const abgr = Buffer.alloc(2 * 2 * 4);
  for (let i = 0; i < 4; i++) abgr.set([255, 255, 0, 0], i * 4); // A, B, G, R: opaque blue
  const bmp = encodeBmp({ data: abgr, width: 2, height: 2, bitPP: 24 }).data;
  assert.deepEqual([...(await decodeImage(bmp)).data.slice(0, 3)], [0, 0, 255]);
});

test('a non-image and a truncated JPEG fail with a one-line error naming the file', async () => {
  const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#123456' } }).jpeg().toBuffer();
  for (const bytes of [Buffer.from('hello, not an image'), jpeg.subarray(0, 200)]) {
    await assert.rejects(decodeImage(bytes, 'photos/bob/x.jpg'), (err: unknown) => {
      assert.ok(err instanceof FacetrainError);
      assert.equal(err.code, 'FT_ERR_IMAGE');
      assert.match(err.message, /^photos\/bob\/x\.jpg: /);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
  }
});

test('refuses images over the pixel limit', async () => {
  const png = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#000' } }).png().toBuffer();
  await assert.rejects(decodeImage(png, 'big.png', { maxPixels: 5000 }), /big\.png: not a readable image/);
});
