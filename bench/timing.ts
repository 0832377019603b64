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

/** Two decimals, as the results file reports figures. */
export const round = (value: number): number => Math.round(value * 100) / 100;
