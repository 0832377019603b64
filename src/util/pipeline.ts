/**
 * Runs `work` on `items` with at most `concurrency` at once and hands the results to `consume` in
 * the items' order as soon as each is ready: a folder's photos flow through decode, detection and
 * embedding overlapped (sharp and onnxruntime work on other threads while the next photo is read),
 * and results stream out as they come instead of at the end.
 */
export async function mapInOrder<T, R>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<R>, consume: (result: R, index: number) => void | Promise<void>): Promise<void> {
  const running = new Map<number, Promise<R>>();
  let next = 0;
  const start = (): void => {
    while (next < items.length && running.size < concurrency) {
      const index = next++;
      const result = work(items[index]!, index);
      // awaited below in order; if an earlier item fails first, this one's failure is not unhandled
      result.catch(() => undefined);
      running.set(index, result);
    }
  };
  start();
  for (let index = 0; index < items.length; index++) {
    const result = await running.get(index)!;
    running.delete(index);
    start();
    await consume(result, index);
  }
}

/** Photos per second and time left, for a status line. */
export function throughput(done: number, total: number, startedMs: number, nowMs = performance.now()): string {
  const rate = done / Math.max(1e-3, (nowMs - startedMs) / 1000);
  const left = rate > 0 ? Math.round((total - done) / rate) : 0;
  return `${done}/${total} photos, ${rate.toFixed(1)}/s, ETA ${left >= 60 ? `${Math.floor(left / 60)}m${left % 60}s` : `${left}s`}`;
}
