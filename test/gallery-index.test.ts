import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, readFile, rename, copyFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openEmbeddedGallery, openGallery } from '../src/gallery/open.js';
import { GRAPH_SHARDS } from '../src/gallery/graph-shards.js';
import type { FaceTemplate, GalleryStore } from '../src/gallery/store.js';
import { tempDir } from './support/shared.js';
import { seededTemplates } from './support/unit-vectors.js';

const DIMS = 512;
const CRASH_CHILD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'support/gallery-crash-child.js');
const people = ['ada', 'bob', 'cy'];
const templatesOf = (person: string, count = 40) => seededTemplates(person, people.indexOf(person) + 1, count);

/** Every file under the gallery's folder: PGlite's table files and WAL, and the search index. */
async function allFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

async function filesHolding(dir: string, pieces: Buffer[]): Promise<string[]> {
  const out = [];
  for (const file of await allFiles(dir)) if ((await containsAny(file, pieces)) > 0) out.push(path.relative(dir, file));
  return out;
}

async function indexFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.usearch')).map((f) => path.join(dir, f));
}

/** Every stretch of 16 floats of the vectors, as stored in memory (little-endian float32): what a copy of them would contain. */
function vectorPieces(templates: FaceTemplate[]): Buffer[] {
  return templates.flatMap((t) => [0, 16, 256, 496].map((at) => Buffer.from(t.embedding.buffer, t.embedding.byteOffset + at * 4, 64)));
}

async function containsAny(file: string, pieces: Buffer[]): Promise<number> {
  const bytes = await readFile(file);
  return pieces.filter((p) => bytes.includes(p)).length;
}

/** Answers of the store for each query: the photo hashes of the 5 nearest templates and their similarities. */
async function answers(store: GalleryStore, queries: FaceTemplate[]): Promise<{ hashes: string[]; similarities: number[] }[]> {
  return Promise.all(queries.map(async (q) => {
    const found = await store.nearest(q.embedding, 5);
    return { hashes: found.map((n) => n.photoHash), similarities: found.map((n) => n.similarity) };
  }));
}

/** A near copy of each template's vector: its own template must come first. */
function nearCopies(templates: FaceTemplate[]): FaceTemplate[] {
  return templates.map((t, i) => {
    const v = t.embedding.map((x, d) => x + ((d * 7 + i) % 13 === 0 ? 0.02 : 0));
    const norm = Math.hypot(...v);
    return { ...t, embedding: v.map((x) => x / norm) };
  });
}

test('forget leaves no copy of the person\'s vectors in any file of the embedded gallery (search index, PGlite tables, WAL)', async () => {
  const dir = path.join(await tempDir('gallery-forget-bytes'), 'g');
  let store = await openEmbeddedGallery(dir, DIMS, 0);
  for (const person of people) await store.enroll(person, templatesOf(person));
  await store.close();
  const saved = await indexFiles(dir);
  assert.equal(saved.length, GRAPH_SHARDS, `closing saves one file per shard of the graph: ${saved.join(', ')}`);
  const bobs = vectorPieces(templatesOf('bob'));
  const others = vectorPieces([...templatesOf('ada'), ...templatesOf('cy')]);
  // the check can fail: before forget, the files hold every vector's bytes, each shard its share
  const held = await Promise.all(saved.map((file) => containsAny(file, bobs)));
  assert.equal(held.reduce((a, b) => a + b, 0), bobs.length, 'the saved shards hold bob\'s vectors before forget');
  assert.ok(held.every((n) => n > 0), `every shard holds some of them: ${held.join(', ')}`);
  const holding = await filesHolding(dir, bobs);
  assert.ok(holding.some((f) => f.startsWith('base')) && holding.some((f) => f.startsWith('pg_wal')), `PGlite's table and WAL hold them too: ${holding.join(', ')}`);

  store = await openEmbeddedGallery(dir, DIMS, 0);
  assert.ok(await store.forget('bob'));
  const files = await indexFiles(dir);
  assert.equal(files.length, GRAPH_SHARDS, `one file per shard after forget: ${files.join(', ')}`);
  for (const file of files) assert.equal(await containsAny(file, bobs), 0, `${path.basename(file)} still holds bob's vector bytes`);
  const othersHeld = await Promise.all(files.map((file) => containsAny(file, others)));
  assert.equal(othersHeld.reduce((a, b) => a + b, 0), others.length, 'the others\' vectors are still there');
  const found = await answers(store, nearCopies(templatesOf('ada').slice(0, 5)));
  found.forEach((a, i) => assert.equal(a.hashes[0], `ada-${i}`));
  assert.ok((await store.nearest(templatesOf('bob')[0]!.embedding, 50)).every((n) => !n.photoHash.startsWith('bob')));
  await store.close();
  assert.deepEqual(await filesHolding(dir, bobs), [], 'no file of the gallery holds bob\'s vector bytes');
  assert.ok((await filesHolding(dir, others)).length > 0, 'the others\' vectors are still stored');
});

test('a missing or stale search index (crash before saving, a file of another size) is rebuilt from PGlite with the same answers', async () => {
  const dir = path.join(await tempDir('gallery-stale-index'), 'g');
  const exact = await openGallery(`file:${path.join(path.dirname(dir), 'exact.json')}`, DIMS);
  let store = await openEmbeddedGallery(dir, DIMS, 0);
  for (const person of ['ada', 'bob']) {
    await store.enroll(person, templatesOf(person));
    await exact.enroll(person, templatesOf(person));
  }
  await store.close();
  const first = await indexFiles(dir);
  for (const file of first) await copyFile(file, `${file}.aside`);

  // a process that enrols and is killed before it saves its index: the files on disk are of the previous generation
  const child = spawnSync(process.execPath, [CRASH_CHILD, dir, 'cy', String(people.indexOf('cy') + 1), '40'], { encoding: 'utf8' });
  assert.equal(child.signal, 'SIGKILL', child.stderr);
  assert.match(child.stdout, /enrolled/);
  await exact.enroll('cy', templatesOf('cy'));
  const queries = nearCopies(people.flatMap((p) => templatesOf(p).slice(0, 4)));
  const expected = await answers(exact, queries);
  const check = async (why: string) => {
    const again = await openEmbeddedGallery(dir, DIMS, 0);
    assert.deepEqual(await again.count(), { people: 3, templates: 120 });
    const got = await answers(again, queries);
    got.forEach((a, i) => {
      assert.deepEqual(a.hashes, expected[i]!.hashes, `${why}: query ${i}`);
      a.similarities.forEach((s, j) => assert.ok(Math.abs(s - expected[i]!.similarities[j]!) < 1e-5, `${why}: ${s} vs ${expected[i]!.similarities[j]}`));
    });
    await again.close();
  };
  assert.deepEqual(await indexFiles(dir), first, 'the killed process saved no index');
  await check('after the crash');
  const current = await indexFiles(dir);
  assert.equal(current.length, GRAPH_SHARDS);
  assert.ok(current.every((file) => !first.includes(file)), 'the rebuilt graph is saved under the new generation');
  const rebuilt = await Promise.all(current.map((file) => readFile(file)));

  // the previous generation's files (80 templates) under the current generation's names: their size says they are stale
  for (const [i, file] of current.entries()) await rename(`${first[i]}.aside`, file);
  await check('files of another size');
  // one shard's file missing
  await rm(current[1]!);
  await check('one shard missing');
  // the graph rebuilt from the same rows in the same order is the same graph, whichever of its threads ran first
  const again = await Promise.all((await indexFiles(dir)).map((file) => readFile(file)));
  again.forEach((bytes, i) => assert.ok(bytes.equals(rebuilt[i]!), `shard ${i}: rebuilt twice, the same bytes`));
  // no file at all
  for (const file of await indexFiles(dir)) await rename(file, `${file}.gone`);
  await check('no index file');
  await exact.close();
});

test('below the exact scan\'s size no graph is built; the enrolment that crosses it builds one, with the exact answers', async () => {
  const dir = path.join(await tempDir('gallery-threshold'), 'g');
  const exact = await openGallery(`file:${path.join(path.dirname(dir), 'exact.json')}`, DIMS);
  const exactUpTo = 50;
  const queries = nearCopies(people.flatMap((p) => templatesOf(p).slice(0, 4)));
  const same = async (store: GalleryStore, why: string) => {
    const [want, got] = [await answers(exact, queries), await answers(store, queries)];
    got.forEach((a, i) => assert.deepEqual(a.hashes, want[i]!.hashes, `${why}: query ${i}`));
  };
  let store = await openEmbeddedGallery(dir, DIMS, exactUpTo);
  for (const s of [store, exact]) await s.enroll('ada', templatesOf('ada'));
  await same(store, '40 templates, exact scan');
  await store.close();
  assert.deepEqual(await indexFiles(dir), [], 'no graph below the exact scan\'s size');

  store = await openEmbeddedGallery(dir, DIMS, exactUpTo);
  for (const s of [store, exact]) await s.enroll('bob', templatesOf('bob'));
  await same(store, '80 templates, the graph built by the enrolment that crossed 50');
  await store.close();
  assert.equal((await indexFiles(dir)).length, GRAPH_SHARDS, 'the graph is saved once built');

  store = await openEmbeddedGallery(dir, DIMS, exactUpTo);
  await same(store, '80 templates, the graph loaded');
  for (const s of [store, exact]) assert.ok(await s.forget('bob'));
  await same(store, '40 templates after a forget, the graph still searched');
  await store.close();
  store = await openEmbeddedGallery(dir, DIMS, exactUpTo);
  assert.deepEqual(await indexFiles(dir), [], 'reopened below the exact scan\'s size: the graph\'s files are deleted');
  await same(store, '40 templates reopened, exact scan');
  await store.close();
  await exact.close();
});
