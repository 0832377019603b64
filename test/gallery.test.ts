import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import pg from 'pg';
import { loadFacePipeline, type FaceEmbeddingPipeline } from '../src/api/gallery.js';
import { FACERES_BASE } from '../src/base/faceres/index.js';
import { embeddingInputSpec } from '../src/recognize/face-pipeline.js';
import { enrollTrainingPhotos } from '../src/api/gallery-model.js';
import { matchNeighbours } from '../src/gallery/match.js';
import { openGallery } from '../src/gallery/open.js';
import { pgliteClient } from '../src/gallery/pglite-client.js';
import { SqlGalleryStore } from '../src/gallery/sql-store.js';
import type { FaceTemplate, GalleryStore } from '../src/gallery/store.js';
import { hashBytes } from '../src/model-dir/gallery.js';
import { train } from '../src/api/train.js';
import { buildServer } from '../src/server/app.js';
import { runFacetrain } from './support/cli.js';
import { startPgliteServer, type PgliteServer } from './support/pglite-server.js';
import { FIVE_CELEBRITIES, needsShared, tempDir } from './support/shared.js';
import { celebrityPhotos, trainTinyModel, type TinyModel } from './support/tiny-model.js';
import { phonePhoto } from './support/phone-photo.js';
import { healthAnsweredWhileBusy } from './support/health-while-busy.js';
import { seededTemplates } from './support/unit-vectors.js';

const API_KEY = 'gallery-test-key-0123456789';
const PERSON = 'server-elton';
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');

interface Embedded extends FaceTemplate {
  person: string;
}

/** The first `count` photos (by name) of each person in `split` of five-celebrities. */
async function photosOf(split: 'train' | 'val', count: number): Promise<{ person: string; file: string }[]> {
  const root = path.join(FIVE_CELEBRITIES, split);
  const out = [];
  for (const person of (await readdir(root)).sort()) {
    for (const f of (await readdir(path.join(root, person))).sort().slice(0, count)) out.push({ person, file: path.join(root, person, f) });
  }
  return out;
}

/** Largest-face embeddings with the project's default face pipeline, made once for every test here. */
async function embedAll(faces: FaceEmbeddingPipeline, photos: { person: string; file: string }[]): Promise<Embedded[]> {
  const out: Embedded[] = [];
  for (const p of photos) {
    const bytes = await readFile(p.file);
    const [largest] = await faces.embedFaces(bytes, p.file);
    if (largest) out.push({ person: p.person, file: path.basename(p.file), photoHash: hashBytes(bytes), embedding: largest.embedding });
  }
  return out;
}

let server: PgliteServer | undefined;
let enrolled: Embedded[] = [];
let queries: Embedded[] = [];
let dims = 0;

async function enrolAll(store: GalleryStore, templates: Embedded[]): Promise<void> {
  const people = [...new Set(templates.map((t) => t.person))];
  for (const person of people) await store.enroll(person, templates.filter((t) => t.person === person));
}

async function countRows(url: string, sql: string, params: unknown[] = []): Promise<number> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return Number((await client.query(sql, params)).rows[0].n);
  } finally {
    await client.end();
  }
}

before(async () => {
  if (needsShared) return;
  server = await startPgliteServer();
  // the figures below were measured with FaceRes (its galleryThreshold)
  const faces = await loadFacePipeline({ base: FACERES_BASE, input: embeddingInputSpec(FACERES_BASE) });
  dims = faces.dims;
  enrolled = await embedAll(faces, await photosOf('train', 3));
  queries = await embedAll(faces, await photosOf('val', 5));
  faces.dispose();
});

after(async () => {
  await server?.stop();
});

test('file, embedded PGlite and PostgreSQL-wire stores give the same nearest templates and the same names', { skip: needsShared }, async () => {
  const dir = await tempDir('gallery-stores');
  const stores = [
    await openGallery(`file:${path.join(dir, 'gallery.json')}`, dims),
    await openGallery(`pglite:${path.join(dir, 'pglite')}`, dims),
    await openGallery(server!.url, dims),
  ];
  for (const store of stores) await enrolAll(store, enrolled);
  let correct = 0;
  for (const q of queries) {
    const answers = await Promise.all(stores.map((s) => s.nearest(q.embedding, 5)));
    const [exact, ...others] = answers;
    for (const other of others) {
      assert.deepEqual(other.map((n) => n.photoHash), exact!.map((n) => n.photoHash), `${q.file}: same neighbours`);
      other.forEach((n, i) => assert.ok(Math.abs(n.similarity - exact![i]!.similarity) < 1e-4, `${q.file}: similarity ${n.similarity} vs ${exact![i]!.similarity}`));
    }
    const names = answers.map((a) => matchNeighbours(a, -1, 3).label);
    assert.deepEqual(new Set(names).size, 1, `${q.file}: ${names.join(' / ')}`);
    if (names[0] === q.person) correct++;
  }
  console.log(`nearest-template top-1 on five-celebrities val: ${correct}/${queries.length}`);
  // the same accuracy target as the head (faces-recognize test)
  assert.ok(correct / queries.length >= 0.96, `${correct}/${queries.length}`);
  for (const store of stores) {
    assert.deepEqual(await store.count(), { people: 5, templates: enrolled.length });
    const again = await store.enroll(enrolled[0]!.person, [enrolled[0]!]);
    assert.deepEqual(again, { added: 0, alreadyKnown: 1 }, `${store.location}: a photo is recorded once`);
    await store.close();
  }
});

test('the embedded store\'s HNSW graph (exact scan turned off) gives the exact nearest templates, names and scores on real embeddings', { skip: needsShared }, async () => {
  const dir = await tempDir('gallery-graph');
  const exact = await openGallery(`file:${path.join(dir, 'gallery.json')}`, dims);
  const location = `pglite:${path.join(dir, 'graph')}`;
  const graph = await SqlGalleryStore.open(await pgliteClient(path.join(dir, 'graph'), location), location, dims, { indexDir: path.join(dir, 'graph'), exactSearchUpTo: 0 });
  for (const store of [exact, graph]) await enrolAll(store, enrolled);
  for (const q of queries) {
    const [want, got] = await Promise.all([exact.nearest(q.embedding, 5), graph.nearest(q.embedding, 5)]);
    assert.deepEqual(got.map((n) => n.photoHash), want.map((n) => n.photoHash), `${q.file}: same neighbours`);
    // the unknown rule at the base's threshold: the same name (or unknown) and score
    const [a, b] = [matchNeighbours(want, FACERES_BASE.galleryThreshold, 3), matchNeighbours(got, FACERES_BASE.galleryThreshold, 3)];
    assert.equal(b.label, a.label, q.file);
    assert.ok(Math.abs(b.score - a.score) < 1e-5, `${q.file}: ${b.score} vs ${a.score}`);
  }
  await exact.close();
  await graph.close();
});

test('forget deletes every row of the person in the database; a second client sees enrol and forget at once', { skip: needsShared }, async () => {
  const [a, b] = [await openGallery(server!.url, dims), await openGallery(server!.url, dims)];
  const person = 'madonna';
  const theirs = enrolled.filter((t) => t.person === person);
  await a.forget(person);
  await a.enroll(person, theirs);
  const seen = await b.nearest(theirs[0]!.embedding, 1);
  assert.equal(seen[0]?.person, person, 'enrolled on one client, found by the other');
  assert.ok(await b.forget(person));
  assert.equal(await countRows(server!.url, 'SELECT count(*) AS n FROM facetrain_templates WHERE person = $1', [person]), 0);
  assert.equal(await countRows(server!.url, 'SELECT count(*) AS n FROM facetrain_people WHERE name = $1', [person]), 0);
  const hashes = theirs.map((t) => t.photoHash);
  assert.equal(await countRows(server!.url, 'SELECT count(*) AS n FROM facetrain_templates WHERE photo_hash = ANY($1)', [hashes]), 0);
  const after = await a.nearest(theirs[0]!.embedding, 50);
  assert.ok(after.every((n) => n.person !== person), 'forgotten on one client, gone for the other');
  assert.equal(await a.forget(person), false);
  await a.close();
  await b.close();
});

test('a gallery of another embedding length is refused with a message naming it', { skip: needsShared }, async () => {
  await assert.rejects(openGallery(server!.url, dims + 1), /holds \d+-value embeddings but the model makes/);
  await assert.rejects(openGallery('mysql://x', dims), /not a gallery URL/);
});

/** A folder of symlinks to `count` photos of each person: the archive the index tests index. */
async function archive(count: number): Promise<string> {
  const root = await tempDir('archive');
  for (const p of await photosOf('val', count)) {
    await mkdir(path.join(root, p.person), { recursive: true });
    await symlink(p.file, path.join(root, p.person, path.basename(p.file)));
  }
  // the same bytes under another name are one photo
  const first = (await photosOf('val', 1))[0]!;
  await symlink(first.file, path.join(root, 'copy-of-first.jpg'));
  return root;
}

test('index killed with SIGKILL mid-run and restarted records every photo exactly once; search finds the person', { skip: needsShared }, async () => {
  // a database of its own: the shared server holds FaceRes templates, and index embeds with the default base
  const db = await startPgliteServer();
  try {
    const root = await archive(4);
    const url = db.url.replace(/\/postgres$/, '/postgres?application_name=index-test');
    const child = spawn(process.execPath, [CLI, 'index', root, '--gallery', url, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let indexed = 0;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    child.stdout.on('data', (d: Buffer) => {
      indexed += String(d).split('\n').filter((l) => l.includes('"type":"indexed"')).length;
      if (indexed >= 3 && child.exitCode === null) child.kill('SIGKILL');
    });
    const [code, signal] = await once(child, 'exit');
    assert.equal(signal, 'SIGKILL', `killed mid-run, before it finished (exit ${code}, ${indexed} indexed): ${stderr}`);
    const done = await countRows(db.url, 'SELECT count(*) AS n FROM facetrain_archive_photos WHERE indexed_at IS NOT NULL');
    assert.ok(done >= 2 && done < 20, `${done} photos recorded before the kill`);
    const restart = runFacetrain(['index', root, '--gallery', url, '--json']);
    assert.equal(restart.status, 0, restart.stderr);
    const photos = await countRows(db.url, 'SELECT count(*) AS n FROM facetrain_archive_photos');
    assert.equal(photos, 20, 'one row per distinct photo (the copy is the same photo)');
    assert.equal(await countRows(db.url, 'SELECT count(*) AS n FROM facetrain_archive_photos WHERE indexed_at IS NULL'), 0);
    // every photo's faces recorded once: face rows match the count recorded with the photo
    assert.equal(await countRows(db.url, 'SELECT count(*) AS n FROM facetrain_archive_photos p WHERE faces <> (SELECT count(*) FROM facetrain_archive_faces f WHERE f.photo_hash = p.photo_hash)'), 0);
    const reindexedHere = restart.stdout.split('\n').filter((l) => l.includes('"type":"indexed"')).length;
    assert.equal(reindexedHere, 20 - done, 'the restart indexed only what was left');

    const query = (await photosOf('train', 1)).find((p) => p.person === 'elton_john')!;
    // every hit, best first: the ranking is what is checked, not a threshold
    const search = runFacetrain(['search', query.file, '--gallery', db.url, '--threshold=-1', '--limit', '5', '--json']);
    assert.equal(search.status, 0, search.stderr);
    const { hits } = JSON.parse(search.stdout) as { hits: { file: string }[] };
    const found = hits.map((h) => path.basename(path.dirname(h.file)));
    console.log(`search for elton_john: ${found.join(', ')}`);
    assert.equal(found.length, 5);
    assert.ok(found.filter((p) => p === 'elton_john').length >= 3, found.join(', '));
  } finally {
    await db.stop();
  }
});

test('two index workers (child processes) share one archive through the database: each photo is recorded exactly once', { skip: needsShared }, async () => {
  // a database of its own: the archive tables of the other tests' server already hold these photos
  const db = await startPgliteServer();
  try {
    const root = await archive(4);
    const worker = async (name: string) => {
      const child = spawn(process.execPath, [CLI, 'index', root, '--gallery', db.url, '--worker', name, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
      child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
      const [code] = await once(child, 'exit');
      assert.equal(code, 0, `${name}: ${stderr}`);
      return stdout.split('\n').filter((l) => l.includes('"type":"indexed"')).map((l) => (JSON.parse(l) as { file: string }).file);
    };
    const [a, b] = await Promise.all([worker('worker-a'), worker('worker-b')]);
    console.log(`index workers shared 20 photos: worker-a ${a.length}, worker-b ${b.length}`);
    assert.equal(a.length + b.length, 20, 'every distinct photo indexed once between the two workers');
    assert.equal(new Set([...a, ...b]).size, 20, 'no photo indexed by both');
    assert.equal(await countRows(db.url, 'SELECT count(*) AS n FROM facetrain_archive_photos WHERE indexed_at IS NOT NULL'), 20);
    assert.equal(await countRows(db.url, `SELECT count(*) AS n FROM facetrain_archive_photos WHERE indexed_by NOT IN ('worker-a', 'worker-b')`), 0);
    assert.equal(await countRows(db.url, 'SELECT count(*) AS n FROM facetrain_archive_photos p WHERE faces <> (SELECT count(*) FROM facetrain_archive_faces f WHERE f.photo_hash = p.photo_hash)'), 0);
  } finally {
    await db.stop();
  }
});

/** Four training photos of each five-celebrities person, symlinked into a folder to train on. */
async function smallTrainingSet(): Promise<string> {
  const small = await tempDir('gallery-train');
  for (const p of await photosOf('train', 4)) {
    await mkdir(path.join(small, p.person), { recursive: true });
    await symlink(p.file, path.join(small, p.person, path.basename(p.file)));
  }
  return small;
}

test('train --gallery enrols the training photos; eval --gallery gives the same answers from the embedded and the file store', { skip: needsShared }, async () => {
  const small = await smallTrainingSet();
  const outDir = path.join(await tempDir('gallery-train-cli'), 'm');
  const trained = runFacetrain(['train', small, '--out', outDir, '--epochs', '2', '--no-augment', '--seed', '1', '--gallery', 'embedded', '--json']);
  assert.equal(trained.status, 0, trained.stderr);
  const event = trained.stdout.split('\n').filter((l) => l.includes('"gallery-enrolled"')).map((l) => JSON.parse(l) as { added: number; people: number })[0];
  assert.equal(event?.people, 5, trained.stdout.slice(-500));
  const file = `file:${path.join(outDir, 'templates.json')}`;
  const same = await enrollTrainingPhotos(outDir, file);
  assert.equal(same.added, event.added, 'the file store gets the same training templates');
  assert.equal((await enrollTrainingPhotos(outDir, file)).added, 0, 'enrolling the training photos again adds nothing');
  type Evaluation = { report: { top1Accuracy: number }; samples: { file: string; predicted: string; score: number }[] };
  const evaluate = (gallery: string): Evaluation => {
    const r = runFacetrain(['eval', outDir, FIVE_CELEBRITIES, '--gallery', gallery, '--json']);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Evaluation;
  };
  const [embedded, fromFile] = [evaluate('embedded'), evaluate(file)];
  assert.ok(embedded.samples.length >= 20, `${embedded.samples.length} val photos`);
  assert.deepEqual(embedded.samples.map((s) => [s.file, s.predicted]), fromFile.samples.map((s) => [s.file, s.predicted]));
  embedded.samples.forEach((s, i) => assert.ok(Math.abs(s.score - fromFile.samples[i]!.score) < 1e-4, `${s.file}: ${s.score} vs ${fromFile.samples[i]!.score}`));
  console.log(`eval --gallery on five-celebrities val: top-1 ${embedded.report.top1Accuracy}`);
  assert.ok(embedded.report.top1Accuracy >= 0.8, `top-1 ${embedded.report.top1Accuracy}`);
});

test('enroll, predict and forget with --gallery on a trained model (CLI, PostgreSQL wire)', { skip: needsShared }, async () => {
  // the model only says how faces are cropped and embedded: a small one is enough
  const small = await smallTrainingSet();
  const outDir = path.join(await tempDir('gallery-model'), 'm');
  await train({ dataDir: small, outDir, seed: 1, epochs: 2, augment: false, base: 'faceres' });
  const url = server!.url;
  for (const person of ['madonna', 'ben_afflek']) {
    const r = runFacetrain(['enroll', outDir, path.join(small, person), '--gallery', url, '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.ok((JSON.parse(r.stdout) as { added: number }).added > 0);
  }
  const val = path.join(FIVE_CELEBRITIES, 'val', 'madonna');
  const predicted = runFacetrain(['predict', outDir, val, '--gallery', url, '--json']);
  assert.equal(predicted.status, 0, predicted.stderr);
  const labels = predicted.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { faces: { label: string }[] }).faces[0]?.label);
  assert.ok(labels.filter((l) => l === 'madonna').length >= 4, labels.join(', '));
  const forgot = runFacetrain(['forget', outDir, 'madonna', '--gallery', url]);
  assert.equal(forgot.status, 0, forgot.stderr);
  const again = runFacetrain(['forget', outDir, 'madonna', '--gallery', url]);
  assert.equal(again.status, 3);
  assert.match(again.stderr, /^error: .*no person named madonna/);
  const bad = runFacetrain(['predict', outDir, val, '--gallery', 'postgres://127.0.0.1:1/none']);
  assert.equal(bad.status, 9, bad.stderr);
  assert.match(bad.stderr, /^error: .*cannot reach the gallery database/);
});

let tinyModel: Promise<TinyModel> | undefined;
/** One small face-embedding model for the server tests here: it only says how faces are cropped and embedded. */
const servedModel = (): Promise<TinyModel> => (tinyModel ??= trainTinyModel(['madonna', 'mindy_kaling'], { base: 'faceres', photosPerPerson: 3 }));

after(async () => {
  const model = await tinyModel;
  if (model) await rm(model.root, { recursive: true, force: true });
});

/** A multipart body of the photos, as a browser or curl sends it. */
async function photosForm(files: string[]): Promise<{ headers: Record<string, string>; payload: Buffer }> {
  const form = new FormData();
  for (const f of files) form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), path.basename(f));
  const request = new Request('http://x/', { method: 'POST', body: form });
  return { headers: { 'content-type': request.headers.get('content-type')! }, payload: Buffer.from(await request.arrayBuffer()) };
}

test('serve --gallery decodes and embeds in its worker threads: /healthz answers while a 6000x6000 PNG is recognized through the gallery', { skip: needsShared }, async () => {
  const model = await servedModel();
  const gallery = `file:${path.join(await tempDir('served-gallery'), 'gallery.json')}`;
  const app = await buildServer({ modelDir: model.modelDir, gallery, apiKey: API_KEY, logLevel: 'silent' });
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const form = await photosForm(await celebrityPhotos('madonna', 3));
    const enrol = await fetch(`${url}/v1/people/madonna/photos`, { method: 'POST', headers: { ...form.headers, authorization: `Bearer ${API_KEY}` }, body: new Uint8Array(form.payload) });
    assert.equal(enrol.status, 201, await enrol.text());
    const original = (await celebrityPhotos('madonna', 1, 'val'))[0]!;
    const jpeg = await phonePhoto(original, { width: 6000, height: 6000, photoSide: 1800 });
    const png = new Uint8Array(await sharp(jpeg).png({ compressionLevel: 1 }).toBuffer());
    let recognized = false;
    const recognition = fetch(`${url}/v1/recognize`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png }).then(async (response) => {
      recognized = true;
      return { status: response.status, body: (await response.json()) as { faces: { label: string }[]; image: { width: number } } };
    });
    const answeredWhileBusy = await healthAnsweredWhileBusy(url, () => recognized);
    assert.equal(answeredWhileBusy, 5, 'health checks answer while a large photo is recognized through the gallery');
    const { status, body } = await recognition;
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.image.width, 6000);
    assert.equal(body.faces[0]?.label, 'madonna', 'the enrolled person is named from the gallery');
  } finally {
    await app.close();
  }
});

/** The folder of PGlite's database under an embedded gallery's folder (`base/<oid>`: the one holding the largest files). */
async function databaseFolder(dir: string): Promise<string> {
  let largest = { folder: '', bytes: -1 };
  for (const oid of await readdir(path.join(dir, 'base'))) {
    const folder = path.join(dir, 'base', oid);
    let bytes = 0;
    for (const name of await readdir(folder)) bytes += (await stat(path.join(folder, name))).size;
    if (bytes > largest.bytes) largest = { folder, bytes };
  }
  return largest.folder;
}

/** Sizes of the relation files (main forks) in `folder` that are not in `known`. */
async function newFileSizes(folder: string, known: Set<string>): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const name of await readdir(folder)) {
    if (/^\d+$/.test(name) && !known.has(name)) sizes.set(name, await stat(path.join(folder, name)).then((s) => s.size, () => -1));
  }
  return sizes;
}

test('serve --gallery runs the store in its own thread: /healthz answers while a forget is inside its table rewrite', { skip: needsShared }, async () => {
  const model = await servedModel();
  const dir = path.join(await tempDir('served-embedded'), 'gallery');
  const filled = await openGallery(`pglite:${dir}`, dims);
  await filled.enroll('crowd', seededTemplates('crowd', 5, 10_000, dims));
  await filled.enroll('leaving', seededTemplates('leaving', 6, 5, dims));
  await filled.close();
  const app = await buildServer({ modelDir: model.modelDir, gallery: `pglite:${dir}`, apiKey: API_KEY, logLevel: 'silent' });
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const folder = await databaseFolder(dir);
    const before = new Set(await readdir(folder));
    let forgotten = false;
    const forget = fetch(`${url}/v1/people/leaving`, { method: 'DELETE', headers: { authorization: `Bearer ${API_KEY}` } }).then((r) => {
      forgotten = true;
      return r.status;
    });
    // VACUUM FULL copies the table into new files in one statement. A store on the event loop runs
    // that statement without yielding, so every /healthz it answers, and every look at the files,
    // comes before the copy began or after it ended; a store in its own thread lets the loop answer
    // while the new files are still growing.
    const seen: Map<string, number>[] = [];
    while (!forgotten) {
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
      if (!forgotten) seen.push(await newFileSizes(folder, before));
    }
    assert.equal(await forget, 200);
    const final = await newFileSizes(folder, before);
    const rewritten = [...final.keys()].filter((file) => final.get(file)! > 1_000_000);
    assert.ok(rewritten.length > 0, 'the forget rewrote the templates table into new files');
    const midCopy = seen.filter((sizes) => rewritten.some((file) => (sizes.get(file) ?? 0) > 0 && sizes.get(file)! < final.get(file)!));
    console.log(`/healthz answered ${seen.length} times during the forget, ${midCopy.length} of them while the table's new files were growing`);
    assert.ok(midCopy.length > 0, `no /healthz answered while the table rewrite was under way (${seen.length} answers during the forget)`);
    const people = await (await fetch(`${url}/v1/people`)).json() as { people: string[] };
    assert.deepEqual(people.people, ['crowd']);
  } finally {
    await app.close();
  }
});

test('two servers (each its own connection pool) on one PostgreSQL gallery see each other\'s enrolments and forgets at once', { skip: needsShared }, async () => {
  const model = await servedModel();
  const servers: FastifyInstance[] = [];
  try {
    for (let i = 0; i < 2; i++) servers.push(await buildServer({ modelDir: model.modelDir, gallery: server!.url, apiKey: API_KEY, logLevel: 'silent' }));
    const [a, b] = servers as [FastifyInstance, FastifyInstance];
    const auth = { authorization: `Bearer ${API_KEY}` };
    // val photos: no other test enrolled them, so the photo itself is its own nearest template
    const photos = await celebrityPhotos('elton_john', 3, 'val');
    const form = await photosForm(photos);
    const enrol = await a.inject({ method: 'POST', url: `/v1/people/${PERSON}/photos`, headers: { ...auth, ...form.headers }, payload: form.payload });
    assert.equal(enrol.statusCode, 201, enrol.body);
    assert.ok(enrol.json<{ added: number }>().added > 0);
    const people = (app: FastifyInstance) => app.inject({ method: 'GET', url: '/v1/people' }).then((r) => r.json<{ people: string[] }>().people);
    assert.ok((await people(b)).includes(PERSON), 'b sees a\'s enrolment');
    const recognize = async (app: FastifyInstance) => {
      const r = await app.inject({ method: 'POST', url: '/v1/recognize', headers: { 'content-type': 'image/jpeg' }, payload: await readFile(photos[0]!) });
      assert.equal(r.statusCode, 200, r.body);
      return r.json<{ faces: { label: string }[] }>().faces[0]?.label;
    };
    assert.equal(await recognize(b), PERSON);
    const forget = await b.inject({ method: 'DELETE', url: `/v1/people/${PERSON}`, headers: auth });
    assert.equal(forget.statusCode, 200, forget.body);
    assert.ok(!(await people(a)).includes(PERSON), 'a sees b\'s forget');
    assert.notEqual(await recognize(a), PERSON);
    const again = await a.inject({ method: 'DELETE', url: `/v1/people/${PERSON}`, headers: auth });
    assert.equal(again.statusCode, 404);
    assert.equal(await countRows(server!.url, 'SELECT count(*) AS n FROM facetrain_people WHERE name = $1', [PERSON]), 0);
  } finally {
    for (const s of servers) await s.close();
  }
});
