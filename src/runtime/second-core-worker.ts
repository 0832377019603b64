import { parentPort } from 'node:worker_threads';
import type { SecondCoreReply, SecondCoreRequest, StartTask } from './second-core.js';
import { workerFailureOf } from './worker-client.js';

const port = parentPort!;
type Handler = Awaited<ReturnType<StartTask<unknown, unknown, unknown>>>;
const handlers = new Map<number, Handler>();

async function answer({ task, load, request }: SecondCoreRequest): Promise<{ reply?: unknown; transfer?: ArrayBuffer[] }> {
  if (load) {
    const { startTask } = (await import(load.module)) as { startTask: StartTask<unknown, unknown, unknown> };
    handlers.set(task, await startTask(load.data));
    return {};
  }
  const handler = handlers.get(task);
  if (!handler) throw new Error(`internal error: task ${task} was not loaded on the second core`);
  return handler(request);
}

port.on('message', (message: SecondCoreRequest & { id: number }) => {
  answer(message).then(
    ({ reply, transfer = [] }) => port.postMessage({ id: message.id, reply } satisfies SecondCoreReply, transfer),
    (err: unknown) => port.postMessage({ id: message.id, error: workerFailureOf(err).message } satisfies SecondCoreReply),
  );
});
port.postMessage({ ready: true });
