import assert from 'node:assert/strict';

/**
 * Polls `/healthz` until `wanted` answers came while the server reported one request in flight and
 * `settled()` was still false (or the request settled first): a server that decoded or inferred on
 * its event loop could answer them only after the request.
 */
export async function healthAnsweredWhileBusy(url: string, settled: () => boolean, wanted = 5): Promise<number> {
  let answered = 0;
  while (!settled() && answered < wanted) {
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    const { inFlight } = (await health.json()) as { inFlight: number };
    if (inFlight === 1 && !settled()) answered++;
  }
  return answered;
}
