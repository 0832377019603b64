import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FacetrainError } from '../../src/errors.js';
import { GALLERY_FILE, readGallery } from '../../src/model-dir/gallery.js';
import { MANIFEST_FILE, readManifest, type ModelManifest } from '../../src/model-dir/manifest.js';

const manifest: ModelManifest = {
  format: 'facetrain-model',
  formatVersion: 1,
  base: { name: 'faceres' },
  input: { size: 112, channels: 'RGB', mean: 127.5, std: 128, crop: 'aligned-face' },
  labels: ['ada', 'grace'],
  threshold: 0.5,
  seed: 1,
  config: { epochs: 3 },
  versions: { facetrain: '0.1.0' },
  metrics: { valAccuracy: 1 },
  createdAt: '2026-12-01T00:00:00.000Z',
};

async function withFile(name: string, json: unknown, check: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'facetrain-model-dir-'));
  try {
    await writeFile(path.join(dir, name), JSON.stringify(json));
    await check(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a manifest with fields this version does not know reads back whole', async () => {
  const newer = { ...manifest, gallery: { store: 'pglite' }, input: { ...manifest.input, landmarks: 5 } };
  await withFile(MANIFEST_FILE, newer, async (dir) => assert.deepEqual(await readManifest(dir), newer));
});

test('a known field of the wrong type is an FT_ERR_MODEL error naming the file and the field', async () => {
  const broken = { ...manifest, labels: 'ada', input: { ...manifest.input, size: '112' } };
  await withFile(MANIFEST_FILE, broken, async (dir) => {
    await assert.rejects(readManifest(dir), (err: unknown) => {
      assert.ok(err instanceof FacetrainError);
      assert.equal(err.code, 'FT_ERR_MODEL');
      assert.match(err.message, new RegExp(`^${path.join(dir, MANIFEST_FILE).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
      assert.match(err.message, /\/labels/);
      assert.match(err.message, /\/input\/size/);
      return true;
    });
  });
});

test('a gallery entry of the wrong shape is an FT_ERR_MODEL error naming the file and the field', async () => {
  const entry = { hash: 'ab', person: 'ada', file: 'a.jpg', split: 'train', faces: 1, views: ['AAAAAA=='] };
  const gallery = { version: 1, recipeKey: 'faceres', entries: [entry] };
  await withFile(GALLERY_FILE, gallery, async (dir) => assert.deepEqual(await readGallery(dir), gallery));
  await withFile(GALLERY_FILE, { ...gallery, entries: [{ ...entry, views: 'AAAAAA==' }] }, async (dir) => {
    await assert.rejects(readGallery(dir), (err: unknown) => {
      assert.ok(err instanceof FacetrainError);
      assert.equal(err.code, 'FT_ERR_MODEL');
      assert.ok(err.message.startsWith(`${path.join(dir, GALLERY_FILE)}: `), err.message);
      assert.match(err.message, /\/entries\/0\/views/);
      return true;
    });
  });
});
