import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { BASE_ROWS } from '../src/base/index.js';
import type { EmbeddingBaseRow } from '../src/base/row.js';
import { readImageFile } from '../src/image/decode.js';
import { loadVerifier, type Verifier } from '../src/recognize/verify.js';
import { buildServer } from '../src/server/app.js';
import { runFacetrain } from './support/cli.js';
import { needsShared, sharedPath, tempDir } from './support/shared.js';
import { trainTinyModel, type TinyModel } from './support/tiny-model.js';

const LFW = sharedPath('datasets', 'lfw-pairs', 'images');
const lfw = (name: string, i: number): string => path.join(LFW, name, `${name}_${String(i).padStart(4, '0')}.jpg`);
// the first same-person and different-person pairs of pairs.txt
const SAME: [string, string] = [lfw('Abdullah_Gul', 13), lfw('Abdullah_Gul', 14)];
const DIFFERENT: [string, string] = [lfw('AJ_Lamas', 1), lfw('Zach_Safrin', 1)];

let verifier: Verifier;
let tmp: string;
/** A plain grey picture: a readable image with no face in it. */
let noFace: string;

before(async () => {
  if (needsShared) return;
  verifier = await loadVerifier();
  tmp = await tempDir('verify');
  noFace = path.join(tmp, 'grey.png');
  await sharp({ create: { width: 200, height: 200, channels: 3, background: '#808080' } }).png().toFile(noFace);
});

after(async () => {
  verifier?.dispose();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('verify() tells a same-person pair from a different-person pair, at the shipped threshold', { skip: needsShared }, async () => {
  assert.equal(verifier.base, 'mobilefacenet');
  assert.equal(verifier.threshold, (BASE_ROWS.mobilefacenet as EmbeddingBaseRow).verifyThreshold);
  const same = await verifier.verify(await readImageFile(SAME[0]), await readImageFile(SAME[1]));
  const different = await verifier.verify(await readImageFile(DIFFERENT[0]), await readImageFile(DIFFERENT[1]));
  assert.equal(same.same, true, JSON.stringify(same));
  assert.equal(different.same, false, JSON.stringify(different));
  assert.ok(same.similarity > different.similarity);
});

test('facetrain verify a b --json prints same, similarity and threshold', { skip: needsShared }, () => {
  const run = runFacetrain(['verify', ...SAME, '--json']);
  assert.equal(run.status, 0, run.stderr);
  const result = JSON.parse(run.stdout) as { same: boolean; similarity: number; threshold: number };
  assert.deepEqual(Object.keys(result).sort(), ['same', 'similarity', 'threshold']);
  assert.equal(result.same, true);
  assert.ok(result.similarity >= result.threshold);
});

test('facetrain verify --pairs prints one JSON line per pair, in order, with a and b; a bad photo is reported on its line', { skip: needsShared }, async () => {
  const pairs = [SAME, DIFFERENT, [noFace, SAME[0]] as [string, string], DIFFERENT.slice().reverse() as [string, string]];
  const file = path.join(tmp, 'pairs.tsv');
  await writeFile(file, `${pairs.map((p) => p.join('\t')).join('\n')}\n`);
  const run = runFacetrain(['verify', '--pairs', file, '--json']);
  assert.equal(run.status, 4, 'a pair that failed sets the image exit code');
  const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { a: string; b: string; same?: boolean; error?: string });
  assert.deepEqual(lines.map((l) => [l.a, l.b]), pairs);
  assert.deepEqual(lines.map((l) => l.same), [true, false, undefined, false]);
  assert.match(lines[2]!.error!, /no face found/);
});

test('facetrain verify: a malformed pairs line and a missing photo are one error line each', { skip: needsShared }, async () => {
  const file = path.join(tmp, 'bad.tsv');
  await writeFile(file, `${SAME[0]} ${SAME[1]}\n`);
  const bad = runFacetrain(['verify', '--pairs', file]);
  assert.equal(bad.status, 3);
  assert.match(bad.stderr, /^error: .*bad\.tsv:1: expected photoA<TAB>photoB/);
  const missing = runFacetrain(['verify', SAME[0], path.join(tmp, 'nope.jpg')]);
  assert.equal(missing.status, 4);
  assert.match(missing.stderr, /^error: .*nope\.jpg/);
  assert.doesNotMatch(missing.stderr, /\n\s+at /, 'no stack trace');
  const usage = runFacetrain(['verify', SAME[0]]);
  assert.equal(usage.status, 2);
});

test('POST /v1/verify answers same/similarity/threshold, and 400 with a JSON error for one photo', { skip: needsShared }, async () => {
  const tiny: TinyModel = await trainTinyModel(['ben_afflek', 'madonna'], { photosPerPerson: 3 });
  const app: FastifyInstance = await buildServer({ modelDir: tiny.modelDir });
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/verify`;
    const form = async (files: string[]) => {
      const body = new FormData();
      for (const [i, f] of files.entries()) body.append(i === 0 ? 'a' : 'b', new Blob([new Uint8Array(await readFile(f))], { type: 'image/jpeg' }), path.basename(f));
      return body;
    };
    const same = await fetch(url, { method: 'POST', body: await form(SAME) });
    assert.equal(same.status, 200);
    const sameBody = (await same.json()) as { same: boolean; similarity: number; threshold: number };
    assert.equal(sameBody.same, true);
    const different = await fetch(url, { method: 'POST', body: await form(DIFFERENT) });
    assert.equal(((await different.json()) as { same: boolean }).same, false);
    const strict = await fetch(`${url}?threshold=0.99`, { method: 'POST', body: await form(SAME) });
    assert.deepEqual(await strict.json(), { ...sameBody, same: false, threshold: 0.99 });
    const one = await fetch(url, { method: 'POST', body: await form([SAME[0]]) });
    assert.equal(one.status, 400);
    assert.equal(((await one.json()) as { error: { code: string } }).error.code, 'FT_ERR_NO_PHOTO');
  } finally {
    await app.close();
    await rm(tiny.root, { recursive: true, force: true });
  }
});
