import type { BaseName } from '../config.js';
import type { InputSpec } from '../faces/input-spec.js';
import type { RuntimeName } from '../runtime/runtime.js';
import type { Lane } from '../runtime/lanes.js';
import { startWorkers, throwWorkerFailure, type WorkerClient, type WorkerFailure, type WorkerReply } from '../runtime/worker-client.js';
import type { EmbeddedPhoto, PhotoJob } from '../train/embedding.js';

export interface TrainEmbedWorkerData {
  base: BaseName;
  input: InputSpec;
  runtime: RuntimeName;
  onnxThreads: number;
}

/** `close`: free the networks and end (after the photos already sent). */
export type TrainEmbedRequest = { kind: 'embed'; job: PhotoJob } | { kind: 'close' };

export interface TrainEmbedReply extends WorkerReply {
  embedded?: EmbeddedPhoto;
  /** A library error (an unreadable photo, no face), kept whole so the photo is skipped with its reason. */
  failure?: WorkerFailure;
}

/**
 * Photos sent to one thread before its earlier ones are back: one is decoded (sharp's threads)
 * while the other is in onnxruntime, and a worker never waits for the main thread's next photo.
 */
export const LANE_SLOTS = 2;

/**
 * Training's photos embedded in worker threads, each with its own face pipeline on one onnxruntime
 * thread: onnxruntime runs a session on the calling thread, so one thread with two onnxruntime
 * threads leaves a core idle while it decodes, aligns and detects in JS.
 */
export class TrainEmbedPool {
  private constructor(private readonly workers: WorkerClient<TrainEmbedRequest, TrainEmbedReply>[]) {}

  /** Starts `size` workers; each loads the base's pipeline for `input` before it answers. */
  static async start(base: BaseName, input: InputSpec, runtime: RuntimeName, size: number): Promise<TrainEmbedPool> {
    // one onnxruntime thread each: the workers and the thread that started them each take a core
    const data: TrainEmbedWorkerData = { base, input, runtime, onnxThreads: 1 };
    return new TrainEmbedPool(await startWorkers(size, new URL('./train-embed-worker.js', import.meta.url), () => data, 'training embedding worker'));
  }

  /** Photos to keep in flight so that none of `size` workers waits. */
  static inFlightFor(size: number): number {
    return size * LANE_SLOTS;
  }

  /**
   * One lane per worker of the pool being started (`size` of them), each taking photos from the
   * shared queue only when it has a free slot, as the server's workers do: a photo never waits
   * behind a slow one in a worker while another worker has room.
   */
  static lanes(pool: Promise<TrainEmbedPool>, size: number): EmbeddingLane[] {
    return Array.from({ length: size }, (_, index) => ({ run: async (job) => (await pool).embedOn(index, job), slots: LANE_SLOTS, ready: pool }));
  }

  private async embedOn(index: number, job: PhotoJob): Promise<EmbeddedPhoto> {
    // a copy the worker owns: a file's bytes are often a view into a larger pooled buffer
    const bytes = new Uint8Array(job.bytes);
    const reply = await this.workers[index]!.request({ kind: 'embed', job: { ...job, bytes } }, [bytes.buffer]);
    throwWorkerFailure(reply.failure, 'training embedding worker');
    return reply.embedded!;
  }

  /** Lets every worker free its onnxruntime sessions and end by itself (terminating one inside onnxruntime aborts the process). */
  async close(): Promise<void> {
    await Promise.all(this.workers.map(async (worker) => {
      await worker.request({ kind: 'close' }).then(() => worker.exited, () => worker.terminate());
    }));
  }
}

/** A place training's photos are embedded (this thread or the pool). */
export type EmbeddingLane = Lane<PhotoJob, EmbeddedPhoto>;
