import { availableParallelism } from 'node:os';
import type { FaceResult } from '../recognize/recognizer.js';
import type { Runtime, RuntimeName } from '../runtime/runtime.js';
import type { EmbeddedFace } from '../api/gallery.js';
import type { GalleryEmbedReply, GalleryEmbedRequest } from './gallery-embed-job.js';
import { Lanes } from '../runtime/lanes.js';
import { startWorkers, throwWorkerFailure, type WorkerClient, type WorkerFailure, type WorkerReply } from '../runtime/worker-client.js';

export interface RecognizeJob {
  kind: 'recognize';
  bytes: Uint8Array;
  label: string;
  topK: number;
  threshold?: number;
}

/** `reload`: serve the model directory as it now is; `status`: answer once the model is loaded; `close`: finish the jobs queued, free the model and end. */
export type PoolRequest = RecognizeJob | GalleryEmbedRequest | { kind: 'reload' } | { kind: 'status' } | { kind: 'close' };

export interface PoolReply extends WorkerReply, GalleryEmbedReply {
  faces?: FaceResult[];
  image?: { width: number; height: number };
  decodeMs?: number;
  recognizeMs?: number;
  /** A library error, kept whole so the route answers with its status and message. */
  failure?: WorkerFailure;
}

export interface RecognizeWorkerData {
  modelDir: string;
  maxPixels: number;
  /** The runtime the server chose (by name: a Runtime does not cross threads); every worker loads the model on it. */
  runtime: RuntimeName;
  onnxThreads: number;
}

export interface Recognition {
  faces: FaceResult[];
  image: { width: number; height: number };
  decodeMs: number;
  recognizeMs: number;
}

function unwrap(reply: PoolReply): PoolReply {
  throwWorkerFailure(reply.failure, 'recognition worker');
  return reply;
}

type PhotoJob = RecognizeJob | Extract<GalleryEmbedRequest, { kind: 'embed' }>;

/**
 * Decoding and recognition in worker threads, one per core, each with its own copy of the model:
 * the event loop only parses requests and answers, so `/healthz` and uploads stay fast while a
 * 6000x6000 photo is decoded. Photos wait here, in arrival order, and each goes to a worker as soon
 * as one is free: a worker holds one photo at a time, so none waits behind a large photo while the
 * other worker is idle.
 */
export class RecognizePool {
  private readonly lanes: Lanes<PhotoJob, PoolReply>;

  private constructor(private readonly workers: WorkerClient<PoolRequest, PoolReply>[]) {
    this.lanes = new Lanes(workers.map((worker) => ({ run: (job: PhotoJob) => worker.request(job, [job.bytes.buffer as ArrayBuffer]), slots: 1, ready: Promise.resolve() })));
  }

  static async start(modelDir: string, maxPixels: number, runtime: Runtime, size = availableParallelism()): Promise<RecognizePool> {
    const data: RecognizeWorkerData = { modelDir, maxPixels, runtime: runtime.name, onnxThreads: availableParallelism() / size };
    const workers = await startWorkers<PoolRequest, PoolReply>(size, new URL('./recognize-worker.js', import.meta.url), () => data, 'recognition worker');
    const pool = new RecognizePool(workers);
    try {
      await pool.everyWorker({ kind: 'status' });
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  async recognize(job: Omit<RecognizeJob, 'kind'>): Promise<Recognition> {
    const reply = await this.onFreeWorker({ ...job, kind: 'recognize' });
    return { faces: reply.faces!, image: reply.image!, decodeMs: reply.decodeMs!, recognizeMs: reply.recognizeMs! };
  }

  /** A photo's faces as embeddings, for a gallery (the worker loads the face pipeline on first use). */
  async embedFaces(bytes: Uint8Array, label: string): Promise<EmbeddedFace[]> {
    return (await this.onFreeWorker({ kind: 'embed', bytes, label })).embedded!;
  }

  /** Loads the gallery's face pipeline in every worker; returns its embedding length. */
  async loadFacePipeline(): Promise<number> {
    const replies = await Promise.all(this.workers.map(async (worker) => unwrap(await worker.request({ kind: 'embed-load' }))));
    return replies[0]!.dims!;
  }

  private async onFreeWorker(job: PhotoJob): Promise<PoolReply> {
    // A copy the worker can own: uploads are often views into a larger pooled buffer.
    return unwrap(await this.lanes.run({ ...job, bytes: new Uint8Array(job.bytes) }));
  }

  /** Every worker serves the model directory as it now is (after the jobs it already has). */
  reload(): Promise<void> {
    return this.everyWorker({ kind: 'reload' });
  }

  private async everyWorker(request: PoolRequest): Promise<void> {
    await Promise.all(this.workers.map(async (worker) => unwrap(await worker.request(request))));
  }

  /**
   * Finishes the photos given to the pool (waiting or in a worker), then lets every worker free its
   * onnxruntime sessions and end by itself: terminating a thread inside onnxruntime aborts the whole
   * process. A worker that has not ended `graceMs` after this call is terminated.
   */
  async close(graceMs = 30_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
    const finished = (await Promise.race([this.lanes.drained(), late])) !== 'late';
    await Promise.all(this.workers.map(async (worker) => {
      const ended = finished ? worker.request({ kind: 'close' }).then(() => worker.exited, () => undefined) : late;
      if ((await Promise.race([ended, late])) === 'late') await worker.terminate();
    }));
    clearTimeout(timer);
  }
}
