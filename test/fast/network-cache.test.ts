import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mobileFaceNetOnnx } from '../../src/base/mobilefacenet/mobilefacenet.js';
import { blazeFaceOnnx, cachedBlazeFaceOnnx } from '../../src/faces/blazeface-onnx.js';
import { humanModelsDir, loadHumanModel } from '../../src/faces/human-models.js';
import { tempDir } from '../support/shared.js';
import { onnxChannelBlock } from '../../src/runtime/onnxruntime.js';

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

async function entries(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

test('MobileFaceNet from the network cache: the bytes a fresh conversion writes, a truncated or damaged entry rebuilt', async () => {
  const dir = await tempDir('network-cache');
  try {
    const fresh = await mobileFaceNetOnnx(dir);
    const [entry, ...others] = await entries(dir);
    assert.equal(others.length, 0, 'one entry, no temporary file left');
    assert.match(entry!, /^mobilefacenet-[0-9a-f]{32}\.bin$/);
    const file = path.join(dir, entry!);
    const written = (await stat(file)).mtimeMs;
    assert.equal(sha(await mobileFaceNetOnnx(dir)), sha(fresh), 'read back from the entry');
    assert.equal((await stat(file)).mtimeMs, written, 'a hit writes nothing');

    await truncate(file, 1000);
    assert.equal(sha(await mobileFaceNetOnnx(dir)), sha(fresh), 'truncated entry: converted again');
    assert.equal((await stat(file)).size, fresh.length + 32, 'and stored whole');

    const damaged = await readFile(file);
    damaged[damaged.length >> 1] ^= 0xff;
    await writeFile(file, damaged);
    assert.equal(sha(await mobileFaceNetOnnx(dir)), sha(fresh), 'one byte changed: converted again');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('BlazeFace from the network cache equals blazeFaceOnnx of the loaded TF.js graph, each input size its own entry', async () => {
  const dir = await tempDir('network-cache');
  try {
    const model = await loadHumanModel('blazeface');
    const channelBlock = onnxChannelBlock();
    const expected = { fixed: sha(blazeFaceOnnx(model, { channelBlock })), anySize: sha(blazeFaceOnnx(model, { anySize: true, channelBlock })) };
    model.dispose();
    for (let round = 0; round < 2; round++) {
      assert.equal(sha(await cachedBlazeFaceOnnx(humanModelsDir(), { cacheDir: dir })), expected.fixed, `round ${round}`);
      assert.equal(sha(await cachedBlazeFaceOnnx(humanModelsDir(), { anySize: true, cacheDir: dir })), expected.anySize, `round ${round}`);
    }
    assert.deepEqual((await entries(dir)).map((name) => name.replace(/-[0-9a-f]{32}\.bin$/, '')).sort(), ['blazeface', 'blazeface-any-size']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('two processes converting into one empty cache at once both get the fresh bytes and leave one intact entry', async () => {
  const dir = await tempDir('network-cache');
  try {
    const module = new URL('../../src/base/mobilefacenet/mobilefacenet.js', import.meta.url).href;
    const script = `const { mobileFaceNetOnnx } = await import(${JSON.stringify(module)}); const bytes = await mobileFaceNetOnnx(${JSON.stringify(dir)}); process.stdout.write((await import('node:crypto')).createHash('sha256').update(bytes).digest('hex'));`;
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.once('error', reject).once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited with ${code}`))));
      });
    const hashes = await Promise.all([run(), run()]);
    const [entry, ...others] = await entries(dir);
    assert.equal(others.length, 0, 'no temporary file left');
    const stored = await readFile(path.join(dir, entry!));
    const payload = stored.subarray(32);
    assert.equal(createHash('sha256').update(payload).digest('hex'), stored.subarray(0, 32).toString('hex'), 'entry intact');
    assert.deepEqual(hashes, [sha(payload), sha(payload)]);
    assert.equal(sha(payload), sha(await mobileFaceNetOnnx(path.join(dir, 'fresh'))), 'a fresh conversion');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a cache folder that cannot be written costs the conversion, not the load', async () => {
  const dir = await tempDir('network-cache');
  try {
    const blocked = path.join(dir, 'not-a-folder');
    await writeFile(blocked, 'a file where the cache folder would be');
    const bytes = await mobileFaceNetOnnx(blocked);
    assert.equal(sha(bytes), sha(await mobileFaceNetOnnx(path.join(dir, 'cache'))));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
