import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadDatasetSplit, splitPhotos } from '../src/dataset/scan.js';
import { FIVE_CELEBRITIES, needsShared, tempDir } from './support/shared.js';

function people(counts: Record<string, number>): Map<string, string[]> {
  return new Map(Object.entries(counts).map(([p, n]) => [p, Array.from({ length: n }, (_, i) => `${p}/${i}.jpg`)]));
}

test('the split is stratified: 20 % of each person validates', () => {
  const { train, val } = splitPhotos(people({ alice: 10, bob: 5, carol: 1 }), { valSplit: 0.2, seed: 1 });
  const count = (list: { person: string }[], p: string) => list.filter((x) => x.person === p).length;
  assert.deepEqual([count(val, 'alice'), count(val, 'bob'), count(val, 'carol')], [2, 1, 0]);
  assert.deepEqual([count(train, 'alice'), count(train, 'bob'), count(train, 'carol')], [8, 4, 1]);
});

test('the split is deterministic for a seed and changes with it', () => {
  const input = people({ alice: 20, bob: 20 });
  const a = splitPhotos(input, { valSplit: 0.2, seed: 7 });
  const b = splitPhotos(input, { valSplit: 0.2, seed: 7 });
  const c = splitPhotos(input, { valSplit: 0.2, seed: 8 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.val, c.val);
  assert.equal(new Set([...a.train, ...a.val].map((p) => p.file)).size, 40, 'no photo lost or duplicated');
});

test('an explicit train/ + val/ layout is used as is', { skip: needsShared }, async () => {
  const split = await loadDatasetSplit(FIVE_CELEBRITIES, { valSplit: 0.2, seed: 1 });
  assert.equal(split.explicitSplit, true);
  assert.deepEqual(split.people, ['ben_afflek', 'elton_john', 'jerry_seinfeld', 'madonna', 'mindy_kaling']);
  assert.equal(split.val.length, 25);
  assert.equal(split.train.length, 93);
});

test('hidden files are ignored; a val-only person is an error naming the folder', async () => {
  const root = await tempDir('ds');
  for (const dir of ['train/alice', 'train/bob', 'val/alice', 'val/zoe']) await mkdir(path.join(root, dir), { recursive: true });
  await writeFile(path.join(root, 'train/alice/.DS_Store'), 'x');
  await assert.rejects(loadDatasetSplit(root, { valSplit: 0.2, seed: 1 }), /val: zoe appear only in the validation folder/);
});
