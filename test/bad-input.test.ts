/**
 * The bad-input catalogue (issue 11): every mistake a user or a client makes gets one clear
 * `error:` line (CLI) or a JSON error with the right 4xx (server), never a stack trace, and the
 * model directory is byte-for-byte what it was. The bad files are made here, from real photos.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../src/server/app.js';
import { CLI_PATH, runFacetrain, type CliRun } from './support/cli.js';
import { needsShared, tempDir } from './support/shared.js';
import { celebrityPhotos, trainTinyModel, type TinyModel } from './support/tiny-model.js';

const PEOPLE = ['ben_afflek', 'elton_john'];
const API_KEY = 'bad-input-key-0123456789';

/** Path -> SHA-256 of every file under `dir`: compared before and after each bad input. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[path.relative(dir, p)] = createHash('sha256').update(await readFile(p)).digest('hex');
    }
  };
  await walk(dir);
  return out;
}

/** One `error:` line on stderr naming what is wrong, the documented exit code, no stack trace. */
function assertOneErrorLine(run: CliRun, exitCode: number, pattern: RegExp): void {
  assert.equal(run.status, exitCode, `exit code; stderr: ${run.stderr}`);
  const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
  assert.equal(errors.length, 1, `one error line: ${run.stderr}`);
  assert.match(errors[0]!, pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
}

let tiny: TinyModel;
let work: string;
let pristine: Record<string, string>;

before(async () => {
  if (needsShared) return;
  tiny = await trainTinyModel(PEOPLE, { base: 'faceres', photosPerPerson: 3 });
  work = await tempDir('bad-input');
  pristine = await snapshot(tiny.modelDir);
});

/** A copy of the model for tests that damage it on purpose. */
async function modelCopy(name: string): Promise<string> {
  const dir = path.join(work, name);
  await cp(tiny.modelDir, dir, { recursive: true });
  return dir;
}

describe('CLI', { skip: needsShared }, () => {
  after(async () => assert.deepEqual(await snapshot(tiny.modelDir), pristine, 'the model directory is byte-for-byte intact'));

  test('model.json weight paths outside the model directory are refused', async () => {
    const dir = await modelCopy('escape');
    const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['../../../../../../etc/passwd'];
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
    assertOneErrorLine(runFacetrain(['predict', dir, tiny.photos.ben_afflek![0]!]), 5, /outside the model's folder/);
    // a symlink inside the folder that leads out of it is refused too
    json.weightsManifest[0].paths = ['link.bin'];
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
    await symlink(path.join(tiny.modelDir, 'weights.bin'), path.join(dir, 'link.bin'));
    assertOneErrorLine(runFacetrain(['predict', dir, tiny.photos.ben_afflek![0]!]), 5, /outside the model's folder/);
  });

  test('a truncated weights.bin and another model\'s weights.bin are one clear line', async () => {
    const truncated = await modelCopy('truncated');
    const weights = await readFile(path.join(truncated, 'weights.bin'));
    await writeFile(path.join(truncated, 'weights.bin'), weights.subarray(0, weights.length - 100));
    assertOneErrorLine(runFacetrain(['predict', truncated, tiny.photos.ben_afflek![0]!]), 5, /weights\.bin .*damaged or from another model/);
    const swapped = await modelCopy('swapped');
    const other = new Uint8Array(weights.length).map((_, i) => weights[(i + 4) % weights.length]!); // same size, other values
    await writeFile(path.join(swapped, 'weights.bin'), other);
    assertOneErrorLine(runFacetrain(['predict', swapped, tiny.photos.ben_afflek![0]!]), 5, /does not match .*checksum/);
  });

  test('person names: empty, unknown, a newline, a path separator are refused for --name and folder names', async () => {
    const folder = path.dirname(tiny.photos.ben_afflek![0]!);
    for (const [name, why] of [['', /is empty/], ['  ', /is empty/], ['unknown', /reserved/], ['UNKNOWN', /reserved/], ['al\nice', /control character/], ['a/b', /path separator/]] as const) {
      assertOneErrorLine(runFacetrain(['enroll', tiny.modelDir, folder, '--name', name]), 3, why);
    }
    const data = path.join(work, 'named');
    await mkdir(path.join(data, 'unknown'), { recursive: true });
    await mkdir(path.join(data, 'ben_afflek'), { recursive: true });
    for (const f of tiny.photos.ben_afflek!) await symlink(f, path.join(data, 'ben_afflek', path.basename(f)));
    for (const f of tiny.photos.elton_john!) await symlink(f, path.join(data, 'unknown', path.basename(f)));
    assertOneErrorLine(runFacetrain(['train', data, '--out', path.join(work, 'never')]), 3, /unknown.*reserved/);
  });

  test('train --out on an existing model refuses before any training', async () => {
    const run = runFacetrain(['train', path.join(tiny.root, 'data'), '--out', tiny.modelDir, '--json']);
    assertOneErrorLine(run, 7, /already exists.*--force/);
    assert.equal(run.stdout, '', 'no training event was printed');
  });

  test('eval lists, skips and counts unreadable and 1x1 photos instead of stopping', async () => {
    const data = path.join(work, 'eval', 'ben_afflek');
    await mkdir(data, { recursive: true });
    await symlink(tiny.photos.ben_afflek![0]!, path.join(data, 'good.jpg'));
    await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png().toFile(path.join(data, 'tiny.png'));
    await writeFile(path.join(data, 'notes.jpg'), 'not a photo');
    const run = runFacetrain(['eval', tiny.modelDir, path.dirname(data), '--json']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /skipped .*tiny\.png: /);
    assert.match(run.stderr, /skipped .*notes\.jpg: /);
    const result = JSON.parse(run.stdout) as { report: { totalSamples: number; unreadable: number }; skipped: unknown[] };
    assert.equal(result.report.totalSamples, 1);
    assert.equal(result.report.unreadable, 2);
    assert.equal(result.skipped.length, 2);
  });

  test('predict: a bad file among good ones is an error: line on stderr; the others are still named', async () => {
    const folder = path.join(work, 'predict');
    await mkdir(folder, { recursive: true });
    await symlink(tiny.photos.elton_john![0]!, path.join(folder, 'a.jpg'));
    await writeFile(path.join(folder, 'b.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
    const run = runFacetrain(['predict', tiny.modelDir, folder]);
    assertOneErrorLine(run, 4, /b\.jpg/);
    assert.match(run.stdout, /a\.jpg: \w+ \(confidence [\d.]+ (>=|<) threshold [\d.]+; classifier probabilities /);
    assert.doesNotMatch(run.stdout, /b\.jpg/);
  });

  test('enroll: a symlink loop in the folder is skipped with its reason, not an ELOOP stack trace', async () => {
    const dir = await modelCopy('loop');
    const folder = path.join(work, 'loop-photos');
    await mkdir(folder, { recursive: true });
    for (const f of tiny.photos.elton_john!) await symlink(f, path.join(folder, path.basename(f)));
    await symlink(path.join(folder, 'loop-b'), path.join(folder, 'loop-a'));
    await symlink(path.join(folder, 'loop-a'), path.join(folder, 'loop-b'));
    const run = runFacetrain(['enroll', dir, folder, '--name', 'elton_john']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /skipped .*loop-a: cannot be read \(ELOOP\)/);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  });

  test('a file-system error is one line with its own exit code, never 7', async () => {
    const folder = path.join(work, 'loop-folder');
    await symlink(folder, folder);
    const run = runFacetrain(['eval', tiny.modelDir, folder]);
    assert.notEqual(run.status, 7);
    assert.ok(run.status === 3 || run.status === 10, `exit ${run.status}: ${run.stderr}`);
    assert.equal(run.stderr.split('\n').filter((l) => l.startsWith('error: ')).length, 1, run.stderr);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  });

  test('training warns about a photo filed under two people and a person with one photo', async () => {
    const data = path.join(work, 'warn');
    for (const person of ['ben_afflek', 'elton_john', 'solo']) await mkdir(path.join(data, person), { recursive: true });
    for (const f of tiny.photos.ben_afflek!) await symlink(f, path.join(data, 'ben_afflek', path.basename(f)));
    for (const f of tiny.photos.elton_john!) await symlink(f, path.join(data, 'elton_john', path.basename(f)));
    await symlink(tiny.photos.ben_afflek![0]!, path.join(data, 'elton_john', 'same-as-ben.jpg'));
    await symlink((await celebrityPhotos('madonna', 1))[0]!, path.join(data, 'solo', 'one.jpg'));
    const run = runFacetrain(['train', data, '--out', path.join(work, 'warn-model'), '--no-augment', '--epochs', '2']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /warning: .*(same-as-ben\.jpg \(elton_john\) is the same photo as .*\(ben_afflek\)|\(ben_afflek\) is the same photo as .*same-as-ben\.jpg \(elton_john\))/);
    assert.match(run.stderr, /warning: solo has only one photo/);
  });
});

describe('server', { skip: needsShared }, () => {
  let app: FastifyInstance;
  let url: string;
  let modelDir: string;
  let before_: Record<string, string>;
  const auth = { 'x-api-key': API_KEY };

  before(async () => {
    modelDir = await modelCopy('served');
    before_ = await snapshot(modelDir);
    app = await buildServer({ modelDir, apiKey: API_KEY, requestTimeoutMs: 1500 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await app.close();
    assert.deepEqual(await snapshot(modelDir), before_, 'no refused request changed the model directory');
  });

  async function expectError(response: Response, status: number, code: string): Promise<void> {
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(response.status, status, JSON.stringify(body));
    assert.equal(body.error.code, code);
    assert.ok(body.error.message.length > 10);
  }

  test('wrong method: 405 with Allow', async () => {
    const r = await fetch(`${url}/v1/recognize`, { method: 'GET' });
    assert.equal(r.headers.get('allow'), 'POST');
    await expectError(r, 405, 'FT_ERR_METHOD');
    const people = await fetch(`${url}/v1/people`, { method: 'PUT' });
    assert.match(people.headers.get('allow') ?? '', /GET/);
    await expectError(people, 405, 'FT_ERR_METHOD');
  });

  test('multipart without a boundary: 400', async () => {
    await expectError(await fetch(`${url}/v1/recognize`, { method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: 'x' }), 400, 'FT_ERR_BAD_MULTIPART');
  });

  test('image/jpeg with a parameter is accepted', async () => {
    const r = await fetch(`${url}/v1/recognize`, { method: 'POST', headers: { 'content-type': 'image/jpeg; foo=bar' }, body: await readFile(tiny.photos.ben_afflek![0]!) });
    assert.equal(r.status, 200, await r.text());
  });

  test('bad percent-encoding and over-long URL parts answer in the project\'s error body', async () => {
    await expectError(await fetch(`${url}/v1/people/%E0%A4%A/photos`, { method: 'POST', headers: auth }), 400, 'FT_ERR_BAD_URL');
    await expectError(await fetch(`${url}/v1/people/${'a'.repeat(2000)}`, { method: 'DELETE', headers: auth }), 414, 'FT_ERR_URL_TOO_LONG');
  });

  test('a body that does not arrive in time: 408 in the project\'s error body', async () => {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${url}/v1/recognize`, { method: 'POST', headers: { 'content-type': 'image/jpeg', 'content-length': '100000' } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.write(Buffer.alloc(10)); // and then nothing more
    });
    assert.equal(answer.status, 408);
    assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'FT_ERR_TIMEOUT');
  });

  test('the weights of a model the page cannot run are not public', async () => {
    await expectError(await fetch(`${url}/model/weights.bin`), 404, 'FT_ERR_NOT_FOUND');
    await expectError(await fetch(`${url}/model/model.json`), 404, 'FT_ERR_NOT_FOUND');
  });

  test('a reserved or empty person name: 400', async () => {
    const form = new FormData();
    form.append('file', new Blob([await readFile(tiny.photos.ben_afflek![0]!)]), 'a.jpg');
    await expectError(await fetch(`${url}/v1/people/unknown/photos`, { method: 'POST', headers: auth, body: form }), 400, 'FT_ERR_DATASET');
    const blank = await fetch(`${url}/v1/people/%20/photos`, { method: 'POST', headers: auth, body: form });
    assert.equal(blank.status, 400, await blank.text());
  });

  test('a photo already known under another name: 409, nothing created', async () => {
    const form = new FormData();
    form.append('file', new Blob([await readFile(tiny.photos.ben_afflek![0]!)]), 'a.jpg');
    await expectError(await fetch(`${url}/v1/people/alice/photos`, { method: 'POST', headers: auth, body: form }), 409, 'FT_ERR_EXISTS');
    const people = (await (await fetch(`${url}/v1/people`)).json()) as { people: string[] };
    assert.deepEqual(people.people, PEOPLE);
  });
});

describe('server enrolment of two photos with one file name', { skip: needsShared }, () => {
  test('both photos are kept and counted', async () => {
    const modelDir = await modelCopy('same-names');
    const app = await buildServer({ modelDir, apiKey: API_KEY });
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const [first, second] = await celebrityPhotos('madonna', 2);
      const form = new FormData();
      form.append('file', new Blob([await readFile(first!)]), 'IMG_0001.jpg');
      form.append('file', new Blob([await readFile(second!)]), 'IMG_0001.jpg');
      const r = await fetch(`${url}/v1/people/madonna/photos`, { method: 'POST', headers: { 'x-api-key': API_KEY }, body: form });
      const body = (await r.json()) as { added: number };
      assert.equal(r.status, 201, JSON.stringify(body));
      assert.equal(body.added, 2);
      const gallery = JSON.parse(await readFile(path.join(modelDir, 'gallery.json'), 'utf8')) as { entries: { person: string; hash: string }[] };
      const madonna = gallery.entries.filter((e) => e.person === 'madonna');
      assert.equal(new Set(madonna.map((e) => e.hash)).size, 2, 'two different photos stored, not one twice');
    } finally {
      await app.close();
    }
  });
});

describe('serve as a process', { skip: needsShared }, () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} stops the server process itself (not only a wrapper) with exit code 0`, async () => {
      const child = spawn(process.execPath, [CLI_PATH, 'serve', tiny.modelDir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('facetrain serving')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`serve exited (${code}) before listening`)));
      });
      const url = /at (http:\/\/\S+)/.exec(stdout)![1]!;
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill(signal);
      assert.equal(await exited, 0);
      await assert.rejects(fetch(`${url}/healthz`), 'nothing listens any more');
    });
  }
});
