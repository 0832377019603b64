import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EmbeddingLane } from '../../src/api/train-embed-pool.js';
import { Lanes } from '../../src/runtime/lanes.js';
import type { EmbeddedPhoto, PhotoJob } from '../../src/train/embedding.js';

/** A lane that records which photos it embedded and answers each after `ms`. */
function lane(name: string, slots: number, ready: Promise<unknown>, ms: number, log: string[]): EmbeddingLane {
  return {
    slots,
    ready,
    run: async (job) => {
      log.push(`${name}:${job.file}`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      return { faces: 1, views: [new Float32Array([1])], ms } satisfies EmbeddedPhoto;
    },
  };
}

const job = (file: string): PhotoJob => ({ file, bytes: new Uint8Array(1), hash: file, split: 'train', views: 1, seed: 1 });

test('photos go to the lanes with free slots; a lane joins when it is ready and never when it fails', async () => {
  let workerReady!: () => void;
  const log: string[] = [];
  const lanes = new Lanes([
    lane('here', 1, Promise.resolve(), 20, log),
    lane('worker', 2, new Promise<void>((resolve) => (workerReady = resolve)), 20, log),
    lane('broken', 4, Promise.reject(new Error('did not start')), 1, log),
  ]);
  assert.equal(lanes.slots, 7);
  const first = lanes.run(job('a'));
  const second = lanes.run(job('b'));
  await first;
  // the worker is not ready yet: the second photo waited for this thread's one slot
  assert.deepEqual(log, ['here:a', 'here:b']);
  workerReady();
  await second;
  const rest = await Promise.all(['c', 'd', 'e'].map((f) => lanes.run(job(f))));
  assert.equal(rest.length, 3);
  assert.ok(log.slice(2).some((entry) => entry.startsWith('worker:')), log.join(' '));
  assert.ok(!log.some((entry) => entry.startsWith('broken:')), log.join(' '));
});

test('a job waits for the first free lane, never behind a slow job (the server\'s workers: one photo each)', async () => {
  const log: string[] = [];
  const lanes = new Lanes([lane('slow', 1, Promise.resolve(), 300, log), lane('fast', 1, Promise.resolve(), 10, log)]);
  const started = performance.now();
  const quick = await Promise.all(['a', 'b', 'c', 'd'].map(async (f) => {
    await lanes.run(job(f));
    return performance.now() - started;
  }));
  // a went to the slow lane; b, c and d one after another to the fast one
  assert.deepEqual(log, ['slow:a', 'fast:b', 'fast:c', 'fast:d']);
  assert.ok(quick[3]! < 200, `d answered after ${Math.round(quick[3]!)} ms, behind the slow job`);
});

test('drained settles once every job given, waiting or running, has finished (the server closes its workers after it)', async () => {
  const finished: string[] = [];
  const lanes = new Lanes<PhotoJob, EmbeddedPhoto>([{
    slots: 1,
    ready: Promise.resolve(),
    run: async (photo) => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      finished.push(photo.file);
      return { faces: 1, views: [new Float32Array([1])], ms: 30 };
    },
  }]);
  await lanes.drained();
  const jobs = ['a', 'b', 'c'].map((f) => lanes.run(job(f)));
  await lanes.drained();
  assert.deepEqual(finished, ['a', 'b', 'c']);
  await Promise.all(jobs);
});
