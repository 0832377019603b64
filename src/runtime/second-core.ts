import type { OnnxSessionOptions } from './onnxruntime.js';
import { WorkerClient, type WorkerReply } from './worker-client.js';

/**
 * A module that runs on the second core (`SecondCore.load`): it exports `startTask`, given the
 * data `load` was given, which returns the handler of that task's requests. Its reply's
 * `transfer` buffers move to the caller without a copy.
 */
export type StartTask<Data, Request, Reply> = (data: Data) => Promise<(request: Request) => Promise<{ reply: Reply; transfer?: ArrayBuffer[] }>>;

/**
 * The onnxruntime options of a network's session on either side of the second core (its task and
 * the caller's own): one thread each, sleeping when idle, so the two sides give the same values to
 * the bit and neither takes the other's core.
 */
export const SECOND_CORE_SESSION: Readonly<Partial<OnnxSessionOptions>> = Object.freeze({ threads: 1, spinning: false });

/** What the second core's thread is asked: load a task module (once per task), or run one of its requests. */
export interface SecondCoreRequest {
  task: number;
  load?: { module: string; data: unknown };
  request?: unknown;
}

export interface SecondCoreReply extends WorkerReply {
  reply?: unknown;
}

/** One task loaded on the second core: its requests answered there, one at a time, in order. */
export interface SecondCoreTask<Request, Reply> {
  run(request: Request, transfer?: ArrayBuffer[]): Promise<Reply>;
}

/**
 * One worker thread for one frame's work on the other core: onnxruntime-node runs a session on its
 * caller's thread, so two networks (or two halves of one network's views) overlap only when one of
 * them runs on another thread. The detector's tiles and MobileFaceNet's mirror pass both run here
 * (`loadFaceDetector`'s and the embedder's `secondCore`), one thread rather than one per purpose:
 * a lone frame has one core to spare, not two. For one frame at a time (a camera stream); folders,
 * training and the server keep both cores busy already.
 */
export class SecondCore {
  private nextTask = 0;

  private constructor(private readonly worker: WorkerClient<SecondCoreRequest, SecondCoreReply>) {}

  static async start(): Promise<SecondCore> {
    // idle, it does not keep the process alive: a recognizer whose stream was never disposed still lets a script end
    return new SecondCore(await WorkerClient.start(new URL('./second-core-worker.js', import.meta.url), undefined, 'second-core thread', false));
  }

  /** Starts the task `module` (a file exporting `startTask`) on the second core with `data` (copied there). */
  async load<Data, Request, Reply>(module: URL, data: Data): Promise<SecondCoreTask<Request, Reply>> {
    const task = this.nextTask++;
    await this.worker.request({ task, load: { module: module.href, data } });
    return {
      run: (request, transfer = []) => {
        const reply = this.worker.request({ task, request }, transfer).then((answer) => answer.reply as Reply);
        // callers run their own half before awaiting this one: a failure is thrown where it is awaited, not reported unhandled meanwhile
        reply.catch(() => undefined);
        return reply;
      },
    };
  }

  terminate(): Promise<void> {
    return this.worker.terminate();
  }
}
