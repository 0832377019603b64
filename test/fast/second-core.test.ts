import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mobileFaceNetOnnx } from '../../src/base/mobilefacenet/mobilefacenet.js';
import type { MirrorReply, MirrorRequest, MirrorTaskData } from '../../src/base/mobilefacenet/mobilefacenet.js';
import { createOnnxSession, loadOnnxRuntime } from '../../src/runtime/onnxruntime.js';
import { SecondCore } from '../../src/runtime/second-core.js';
import { tempDir } from '../support/shared.js';

const MIRROR_TASK = new URL('../../src/base/mobilefacenet/mirror-task.js', import.meta.url);
const SHAPE = [2, 112, 112, 3];

function pixels(seed: number): Float32Array {
  const values = new Float32Array(SHAPE.reduce((a, b) => a * b));
  for (let i = 0; i < values.length; i++) values[i] = Math.sin(i * 0.37 + seed);
  return values;
}

test('a task on the second core gives the rows of the same network on this thread, to the bit; a task that fails says so', async () => {
  const ort = await loadOnnxRuntime();
  assert.ok(ort, 'onnxruntime-node loads');
  const onnx = await mobileFaceNetOnnx();
  const here = await createOnnxSession(ort, onnx, { threads: 1, spinning: false });
  const core = await SecondCore.start();
  try {
    const task = await core.load<MirrorTaskData, MirrorRequest, MirrorReply>(MIRROR_TASK, { onnx });
    for (const seed of [1, 2]) {
      const [expected] = await here.run(pixels(seed), SHAPE);
      const input = pixels(seed);
      const { output } = await task.run({ input, shape: SHAPE }, [input.buffer as ArrayBuffer]);
      assert.deepEqual(Array.from(output), Array.from(expected!));
    }
    await assert.rejects(task.run({ input: new Float32Array(3), shape: SHAPE }), /second-core thread/);
    await assert.rejects(core.load(new URL('./no-such-task.js', import.meta.url), {}), /second-core thread/);
  } finally {
    here.release();
    await core.terminate();
  }
});

test('an idle second core that was never ended does not keep the process alive', async () => {
  const module = new URL('../../src/runtime/second-core.js', import.meta.url).href;
  // one request answered, then the script ends without terminate: the process must exit by itself
  const script = `const { SecondCore } = await import(${JSON.stringify(module)}); const core = await SecondCore.start(); await core.load(new URL(${JSON.stringify(MIRROR_TASK.href)}), { onnx: new Uint8Array(0) }).catch(() => undefined); process.stdout.write('answered');`;
  // a file, not `--input-type=module -e`: worker threads inherit the parent's flags, and that one is refused outside -e
  const dir = await tempDir('second-core');
  const file = path.join(dir, 'idle-second-core.mjs');
  await writeFile(file, script);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = await new Promise<number | null | 'hung'>((resolve) => {
    const timer = setTimeout(() => resolve('hung'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  if (exited === 'hung') child.kill();
  await rm(dir, { recursive: true, force: true });
  assert.equal(out, 'answered', 'the request was answered while the thread was idle otherwise');
  assert.equal(exited, 0);
});
