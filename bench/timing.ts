import { median } from '../src/evaluate/metrics.js';

/** Median wall time in ms of `runs` calls after one warm-up call. */
export async function timeMs(runs: number, run: () => unknown): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return median(times);
}

/**
 * Median wall time in ms of each call (divided by `perCall`, the items one call handles), rounded,
 * timed in interleaved rounds (`runs` of them after one warm-up round): on a machine whose speed
 * drifts (a shared host's steal time), two variants compare only when they take turns.
 */
export async function interleavedMs<K extends string>(runs: number, calls: Record<K, () => unknown>, perCall = 1): Promise<Record<K, number>> {
  const entries = Object.entries(calls) as [K, () => unknown][];
  for (const [, call] of entries) await call();
  const times = entries.map((): number[] => []);
  for (let i = 0; i < runs; i++) {
    for (const [index, [, call]] of entries.entries()) {
      const start = performance.now();
      await call();
      times[index]!.push(performance.now() - start);
    }
  }
  return Object.fromEntries(entries.map(([name], index) => [name, round(median(times[index]!) / perCall)])) as Record<K, number>;
}

/** Two decimals, as the results file reports figures. */
export const round = (value: number): number => Math.round(value * 100) / 100;
