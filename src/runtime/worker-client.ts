import { Worker } from 'node:worker_threads';
import { type ErrorCode, FacetrainError } from '../errors.js';

/** What a worker answers: the id of the request, and an error message when it failed. */
export interface WorkerReply {
  id: number;
  error?: string;
}

/** A worker's error, kept whole for a library error (code and message) so the caller answers with its status. */
export interface WorkerFailure {
  code?: ErrorCode;
  message: string;
}

/** What a worker posts back for `err`. */
export function workerFailureOf(err: unknown): WorkerFailure {
  return err instanceof FacetrainError ? { code: err.code, message: err.message } : { message: (err as Error).message };
}

/** Throws the error a worker reported: the library error itself, or one naming the worker. */
export function throwWorkerFailure(failure: WorkerFailure | undefined, workerName: string): void {
  if (failure?.code) throw new FacetrainError(failure.code, failure.message);
  if (failure) throw new Error(`${workerName}: ${failure.message}`);
}

/**
 * A worker thread answering id-tagged requests. It posts one message when ready; a crash or exit
 * rejects every pending request and every later one.
 */
export class WorkerClient<Request extends object, Reply extends WorkerReply> {
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failure: Error | undefined;
  /** Settles when the thread has ended, by itself or by `terminate`. */
  readonly exited: Promise<void>;

  private constructor(private readonly worker: Worker, private readonly label: string) {
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (reply: Reply) => {
      const pending = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.error !== undefined) pending?.reject(new Error(`${label}: ${reply.error}`));
      else pending?.resolve(reply);
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`${label} exited with code ${code}`)));
  }

  static start<Request extends object, Reply extends WorkerReply>(script: URL, workerData: unknown, label: string): Promise<WorkerClient<Request, Reply>> {
    const worker = new Worker(script, { workerData });
    return new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', () => {
        worker.off('error', reject);
        resolve(new WorkerClient<Request, Reply>(worker, label));
      });
    });
  }

  request(call: Request, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...call, id }, transfer);
    });
  }

  async terminate(): Promise<void> {
    this.fail(new Error(`${this.label} disposed`));
    await this.worker.terminate();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const pending of this.pending.values()) pending.reject(err);
    this.pending.clear();
  }
}

/** Starts `count` workers; if any fails to start, the others are terminated and the first error thrown. */
export async function startWorkers<Request extends object, Reply extends WorkerReply>(
  count: number, script: URL, workerData: (index: number) => unknown, label: string,
): Promise<WorkerClient<Request, Reply>[]> {
  const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => WorkerClient.start<Request, Reply>(script, workerData(i), label)));
  const workers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure !== undefined) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw failure.reason as Error;
  }
  return workers;
}
