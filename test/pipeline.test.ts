import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapInOrder, throughput } from '../src/util/pipeline.js';

function gate(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('mapInOrder: results reach the consumer in order while later items finish first, never more than `concurrency` at once', async () => {
  const finishOrder: number[] = [];
  const consumed: string[] = [];
  let running = 0;
  let most = 0;
  const gates = [0, 1, 2, 3, 4].map(gate);
  const done = mapInOrder([0, 1, 2, 3, 4], 2, async (item) => {
    running++;
    most = Math.max(most, running);
    await gates[item]!.promise;
    running--;
    finishOrder.push(item);
    return `r${item}`;
  }, (result) => {
    consumed.push(result);
  });
  // item 1 finishes before item 0, then the rest in reverse as they start
  gates[1]!.resolve();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(consumed, [], 'nothing is handed on before the first item is done');
  for (const i of [0, 3, 2, 4]) {
    gates[i]!.resolve();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await done;
  assert.deepEqual(consumed, ['r0', 'r1', 'r2', 'r3', 'r4']);
  assert.equal(finishOrder[0], 1);
  assert.equal(most, 2);
});

test('mapInOrder: a failing item rejects the whole run, and a later failure in flight is no unhandled rejection', async () => {
  await assert.rejects(mapInOrder([1, 2, 3], 2, async (x) => {
    if (x === 1) throw new Error('boom');
    await new Promise((resolve) => setTimeout(resolve, 1));
    throw new Error(`later ${x}`);
  }, () => undefined), /boom/);
  await new Promise((resolve) => setTimeout(resolve, 10));
});

test('throughput: rate and time left', () => {
  assert.equal(throughput(10, 30, 0, 5000), '10/30 photos, 2.0/s, ETA 10s');
  assert.equal(throughput(1, 200, 0, 1000), '1/200 photos, 1.0/s, ETA 3m19s');
});
