import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { buildServer, type ServeOptions } from '../src/server/app.js';
import { needsShared } from './support/shared.js';
import { celebrityPhotos, trainTinyModel, type TinyModel } from './support/tiny-model.js';

const API_KEY = 'test-key-0123456789';
const PEOPLE = ['ben_afflek', 'madonna', 'mindy_kaling'];

interface Running {
  app: FastifyInstance;
  url: string;
}

async function start(options: ServeOptions): Promise<Running> {
  const app = await buildServer(options);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

interface ErrorJson {
  error: { code: string; message: string };
}

async function expectError(response: Response, status: number, code: string): Promise<string> {
  const body = (await response.json()) as ErrorJson;
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code);
  assert.ok(body.error.message.length > 10, 'the message says what to do');
  return body.error.message;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

/** A valid one-colour 1-bit greyscale PNG: 20000x20000 = 400 MP decoded, ~50 KB on the wire. */
function decompressionBomb(size = 20_000): Bytes {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale, deflate, filter 0, no interlace
  const rows = Buffer.alloc(size * (1 + Math.ceil(size / 8))); // every row: filter byte 0 + black pixels
  return new Uint8Array(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', header), pngChunk('IDAT', deflateSync(rows, { level: 9 })), pngChunk('IEND', Buffer.alloc(0))]));
}

/** Bytes fetch and Blob accept (TypeScript 5.9 refuses views that might sit on a SharedArrayBuffer). */
type Bytes = Uint8Array<ArrayBuffer>;

function jpegPost(bytes: Bytes, query = ''): RequestInit & { url: string } {
  return { url: `/v1/recognize${query}`, method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: bytes };
}

function photoForm(files: { name: string; bytes: Bytes }[]): FormData {
  const form = new FormData();
  for (const f of files) form.append('file', new Blob([f.bytes], { type: 'image/jpeg' }), f.name);
  return form;
}

describe('facetrain serve: HTTP API', { skip: needsShared }, () => {
  let model: TinyModel;
  let server: Running;
  let photo: Bytes;
  const call = (path: string, init?: RequestInit) => fetch(server.url + path, init);
  const recognize = ({ url, ...init }: RequestInit & { url: string }) => call(url, init);

  before(async () => {
    model = await trainTinyModel(PEOPLE, { base: 'faceres' });
    server = await start({ modelDir: model.modelDir, apiKey: API_KEY, maxBodyBytes: 2 * 1024 * 1024 });
    photo = new Uint8Array(await readFile((await celebrityPhotos('madonna', 1, 'val'))[0]!));
  });

  after(async () => {
    await server?.app.close();
    if (model) await rm(model.root, { recursive: true, force: true });
  });

  test('healthz, model description and people list', async () => {
    const health = (await (await call('/healthz')).json()) as { status: string; people: number; capacity: number };
    assert.deepEqual(health, { status: 'ok', people: 3, inFlight: 0, capacity: 8 });
    const info = (await (await call('/v1/model')).json()) as Record<string, any>;
    assert.deepEqual(info.labels, PEOPLE);
    assert.equal(info.base.name, 'faceres');
    assert.deepEqual(info.input, { size: 224, channels: 'RGB', mean: 0, std: 1, crop: 'aligned-face', align: { eyeDistance: 0.28, eyeY: 0.35 } });
    assert.equal(typeof info.threshold, 'number');
    assert.equal(info.versions.tfjs, '4.22.0');
    assert.equal(info.browser.supported, false, 'face models need detection and FaceRes: recognition stays on the server');
    assert.deepEqual(await (await call('/v1/people')).json(), { people: PEOPLE });
  });

  test('recognizes a raw JPEG body and the same photo as a multipart upload alike', async () => {
    const raw = await recognize(jpegPost(photo, '?top_k=2'));
    assert.equal(raw.status, 200);
    const body = (await raw.json()) as { faces: any[]; image: { width: number; height: number }; timings: Record<string, number> };
    assert.ok(body.faces.length >= 1);
    for (const face of body.faces) {
      assert.ok([...PEOPLE, 'unknown'].includes(face.label));
      assert.equal(face.topK.length, 2);
      assert.ok(face.topK[0].score >= face.topK[1].score);
      assert.ok(PEOPLE.includes(face.topK[0].label));
      assert.ok(face.box.x >= 0 && face.box.y >= 0 && face.box.x + face.box.width <= body.image.width && face.box.y + face.box.height <= body.image.height);
    }
    for (const key of ['decodeMs', 'recognizeMs', 'totalMs']) assert.ok(Number.isFinite(body.timings[key]) && body.timings[key]! >= 0, key);

    const multipart = await call('/v1/recognize?top_k=2', { method: 'POST', body: photoForm([{ name: 'madonna.jpg', bytes: photo }]) });
    assert.equal(multipart.status, 200);
    const again = (await multipart.json()) as { faces: any[] };
    assert.deepEqual(again.faces.map((f) => f.label), body.faces.map((f) => f.label));
    assert.ok(Math.abs(again.faces[0].score - body.faces[0].score) < 1e-5);
  });

  test('query options: threshold turns a face unknown, max_faces caps the list, bad values are 400', async () => {
    const strict = (await (await recognize(jpegPost(photo, '?threshold=1&max_faces=1'))).json()) as { faces: any[] };
    assert.equal(strict.faces.length, 1);
    assert.equal(strict.faces[0].label, strict.faces[0].score >= 1 ? strict.faces[0].topK[0].label : 'unknown');
    for (const query of ['?top_k=0', '?top_k=abc', '?threshold=2', '?max_faces=0']) {
      await expectError(await recognize(jpegPost(photo, query)), 400, 'FT_ERR_INVALID_OPTION');
    }
  });

  test('bad images: not an image, truncated JPEG, empty body, multipart without a file', async () => {
    const text = await expectError(await recognize(jpegPost(new TextEncoder().encode('this is not a photo at all'))), 400, 'FT_ERR_IMAGE');
    assert.match(text, /not a readable image/);
    await expectError(await recognize(jpegPost(photo.subarray(0, Math.floor(photo.length * 0.6)))), 400, 'FT_ERR_IMAGE');
    await expectError(await call('/v1/recognize', { method: 'POST', headers: { 'content-type': 'image/jpeg' } }), 400, 'FT_ERR_NO_PHOTO');
    const fieldsOnly = new FormData();
    fieldsOnly.append('note', 'no file here');
    await expectError(await call('/v1/recognize', { method: 'POST', body: fieldsOnly }), 400, 'FT_ERR_NO_PHOTO');
  });

  test('a 20000x20000 PNG is refused from its header by the pixel limit', async () => {
    const bomb = decompressionBomb();
    assert.ok(bomb.length < 100_000, `the bomb is ${bomb.length} bytes`);
    const message = await expectError(await call('/v1/recognize', { method: 'POST', headers: { 'content-type': 'image/png' }, body: bomb }), 413, 'FT_ERR_TOO_MANY_PIXELS');
    assert.match(message, /20000x20000 is 400 MP, more than this server's limit of 40 MP/);
    const enrol = await call('/v1/people/madonna/photos', { method: 'POST', headers: { 'x-api-key': API_KEY }, body: photoForm([{ name: 'bomb.png', bytes: bomb }]) });
    assert.match(await expectError(enrol, 413, 'FT_ERR_TOO_MANY_PIXELS'), /^bomb\.png: 20000x20000/);
  });

  test('bodies over the limit are 413, declared or chunked, raw or multipart', async () => {
    const big = new Uint8Array(3 * 1024 * 1024);
    await expectError(await recognize(jpegPost(big)), 413, 'FT_ERR_TOO_LARGE');
    await expectError(await call('/v1/recognize', { method: 'POST', body: photoForm([{ name: 'big.jpg', bytes: big }]) }), 413, 'FT_ERR_TOO_LARGE');
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 30; i++) controller.enqueue(new Uint8Array(100_000));
        controller.close();
      },
    });
    const chunked = await call('/v1/recognize', { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: chunks, duplex: 'half' } as RequestInit);
    await expectError(chunked, 413, 'FT_ERR_TOO_LARGE');
  });

  test('wrong content types are 415', async () => {
    for (const type of ['text/plain', 'application/json', 'application/octet-stream']) {
      const message = await expectError(await call('/v1/recognize', { method: 'POST', headers: { 'content-type': type }, body: type === 'application/json' ? '{}' : 'x' }), 415, 'FT_ERR_CONTENT_TYPE');
      assert.match(message, /image\/\*/);
    }
    await expectError(await call('/v1/people/madonna/photos', { method: 'POST', headers: { 'content-type': 'image/jpeg', 'x-api-key': API_KEY }, body: photo }), 415, 'FT_ERR_CONTENT_TYPE');
  });

  test('write routes need the right API key, by header or bearer token, checked before the body', async () => {
    const form = () => photoForm([{ name: 'a.jpg', bytes: photo }]);
    assert.match(await expectError(await call('/v1/people/madonna/photos', { method: 'POST', body: form() }), 401, 'FT_ERR_AUTH'), /x-api-key/);
    await expectError(await call('/v1/people/madonna/photos', { method: 'POST', headers: { 'x-api-key': 'wrong' }, body: form() }), 401, 'FT_ERR_AUTH');
    await expectError(await call('/v1/people/madonna', { method: 'DELETE', headers: { authorization: `Bearer ${API_KEY}x` } }), 401, 'FT_ERR_AUTH');
    await expectError(await call('/v1/people/madonna', { method: 'DELETE' }), 401, 'FT_ERR_AUTH');
    // inject() (light-my-request and its cookie dependency) must work on Node 20 too
    const injected = await server.app.inject({ method: 'DELETE', url: '/v1/people/nobody', headers: { authorization: `Bearer ${API_KEY}` } });
    assert.equal(injected.statusCode, 404);
    assert.equal(injected.json<ErrorJson>().error.code, 'FT_ERR_UNKNOWN_PERSON');
  });

  test('person names are validated and unknown people are 404', async () => {
    const headers = { 'x-api-key': API_KEY };
    assert.match(await expectError(await call('/v1/people/nobody', { method: 'DELETE', headers }), 404, 'FT_ERR_UNKNOWN_PERSON'), /GET \/v1\/people/);
    for (const bad of ['a%2Fb', '.hidden', '%00x', 'x'.repeat(65)]) await expectError(await call(`/v1/people/${bad}`, { method: 'DELETE', headers }), 400, 'FT_ERR_INVALID_OPTION');
  });

  test('enrol and forget: a round trip that persists across restarts', async () => {
    const headers = { 'x-api-key': API_KEY };
    const newcomer = await Promise.all((await celebrityPhotos('elton_john', 3)).map(async (f) => ({ name: f.split('/').pop()!, bytes: new Uint8Array(await readFile(f)) })));
    const enrol = await call('/v1/people/elton_john/photos', { method: 'POST', headers, body: photoForm(newcomer) });
    assert.equal(enrol.status, 201, await enrol.clone().text());
    const added = (await enrol.json()) as { added: number; people: string[] };
    assert.ok(added.added >= 1);
    assert.ok(added.people.includes('elton_john'));
    // concurrent changes are serialised: both land, neither corrupts the other
    const [a, b] = await Promise.all([
      call('/v1/people/madonna', { method: 'DELETE', headers }),
      call('/v1/people/elton_john/photos', { method: 'POST', headers, body: photoForm(newcomer.slice(0, 1)) }),
    ]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 201);
    const expected = ['ben_afflek', 'elton_john', 'mindy_kaling'];
    assert.deepEqual([...((await (await call('/v1/people')).json()) as { people: string[] }).people].sort(), expected);
    assert.equal((await recognize(jpegPost(photo))).status, 200);
    const restarted = await start({ modelDir: model.modelDir });
    try {
      assert.deepEqual([...((await (await fetch(`${restarted.url}/v1/people`)).json()) as { people: string[] }).people].sort(), expected);
    } finally {
      await restarted.app.close();
    }
  });

  test('without an API key configured, write routes are disabled with 403', async () => {
    const readOnly = await start({ modelDir: model.modelDir });
    try {
      const message = await expectError(await fetch(`${readOnly.url}/v1/people/madonna`, { method: 'DELETE', headers: { 'x-api-key': API_KEY } }), 403, 'FT_ERR_WRITE_DISABLED');
      assert.match(message, /started without an API key/);
      assert.equal((await fetch(`${readOnly.url}/v1/people`)).status, 200);
    } finally {
      await readOnly.app.close();
    }
  });

  test('a full queue answers 503 with Retry-After and keeps serving', async () => {
    const busy = await start({ modelDir: model.modelDir, maxInFlight: 1 });
    try {
      const responses = await Promise.all(Array.from({ length: 8 }, () => fetch(`${busy.url}/v1/recognize`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: photo })));
      const statuses = responses.map((r) => r.status);
      assert.ok(statuses.every((s) => s === 200 || s === 503), statuses.join());
      assert.ok(statuses.includes(200), statuses.join());
      const refused = responses.filter((r) => r.status === 503);
      assert.ok(refused.length >= 1, statuses.join());
      for (const r of refused) {
        assert.equal(r.headers.get('retry-after'), '1');
        assert.equal(((await r.json()) as ErrorJson).error.code, 'FT_ERR_BUSY');
      }
      assert.equal((await fetch(`${busy.url}/v1/recognize`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: photo })).status, 200);
      assert.equal(((await (await fetch(`${busy.url}/healthz`)).json()) as { inFlight: number }).inFlight, 0);
    } finally {
      await busy.app.close();
    }
  });

  test('openapi.json describes every route in OpenAPI 3', async () => {
    const doc = (await (await call('/openapi.json')).json()) as Record<string, any>;
    assert.match(doc.openapi, /^3\./);
    assert.equal(doc.info.title, 'facetrain recognition service');
    const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`));
    for (const op of ['GET /healthz', 'GET /v1/model', 'POST /v1/recognize', 'GET /v1/people', 'POST /v1/people/{name}/photos', 'DELETE /v1/people/{name}', 'GET /model/{*}']) {
      assert.ok(ops.includes(op), `${op} in ${ops.join(', ')}`);
    }
    const recognizeOp = doc.paths['/v1/recognize'].post;
    assert.deepEqual(Object.keys(recognizeOp.requestBody.content).sort(), ['image/*', 'multipart/form-data']);
    assert.deepEqual(recognizeOp.parameters.map((p: { name: string }) => p.name).sort(), ['max_faces', 'threshold', 'top_k']);
    assert.ok(recognizeOp.responses['200'].content['application/json'].schema.properties.faces);
    assert.ok(recognizeOp.responses['503']);
    assert.deepEqual(doc.paths['/v1/people/{name}/photos'].post.security, [{ apiKey: [] }, { bearer: [] }]);
    assert.ok(doc.components.securitySchemes.apiKey && doc.components.schemas.Error);
  });

  test('the page, its script and the TF.js bundles are served; a face-embedding model\'s files and nothing else are not', async () => {
    const page = await call('/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /text\/html/);
    assert.match(page.headers.get('content-security-policy')!, /connect-src 'self'/);
    assert.match(await page.text(), /<script type="module" src="\/web\/app.js"><\/script>/);
    assert.match(await (await call('/web/app.js')).text(), /\/v1\/recognize/);
    for (const file of ['tf-core.min.js', 'tf-layers.min.js', 'tf-backend-cpu.min.js', 'tf-backend-wasm.min.js', 'tfjs-backend-wasm-simd.wasm']) {
      assert.equal((await call(`/vendor/${file}`)).status, 200, file);
    }
    // a face-embedding model served without --browser-model runs on the server only: its head (per-person templates) is not public;
    // the browser test loads a whole-image model's files
    for (const path of ['/model/model.json', '/model/weights.bin', '/model/facetrain.json', '/model/..%2Ffacetrain.json', '/vendor/package.json', '/web/..%2F..%2Fpackage.json', '/nope']) {
      await expectError(await call(path), 404, 'FT_ERR_NOT_FOUND');
    }
  });
});
