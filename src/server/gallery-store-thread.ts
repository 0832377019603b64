import type { EnrollCount, FaceTemplate, GalleryStore, Neighbour, PersonSummary } from '../gallery/store.js';
import { throwWorkerFailure, WorkerClient, type WorkerFailure, type WorkerReply } from '../runtime/worker-client.js';

export type GalleryStoreRequest =
  | { kind: 'open'; url: string; dims: number; modelDir?: string }
  | { kind: 'enroll'; person: string; templates: FaceTemplate[] }
  | { kind: 'forget'; person: string }
  | { kind: 'people' }
  | { kind: 'count' }
  | { kind: 'nearest'; embedding: Float32Array; k: number }
  | { kind: 'close' };

export interface GalleryStoreReply extends WorkerReply {
  value?: unknown;
  /** A library error, kept whole so the route answers with its status and message. */
  failure?: WorkerFailure;
}

/**
 * A gallery opened in its own worker thread (gallery-store-worker.ts), with the store's interface:
 * the server's event loop only posts the call and gets the answer, so a search, an enrolment or a
 * forget that rewrites a large embedded gallery never holds `/healthz` or other requests.
 */
export class GalleryStoreThread implements GalleryStore {
  /** Calls posted to the thread and not answered yet. */
  private inFlight = 0;

  private constructor(
    private readonly worker: WorkerClient<GalleryStoreRequest, GalleryStoreReply>,
    readonly location: string,
    readonly dims: number,
    /** The count the thread last answered. */
    private lastCount: { people: number; templates: number },
  ) {}

  static async open(url: string, dims: number, modelDir?: string): Promise<GalleryStoreThread> {
    const worker = await WorkerClient.start<GalleryStoreRequest, GalleryStoreReply>(new URL('./gallery-store-worker.js', import.meta.url), undefined, 'gallery worker');
    try {
      const opened = (await call(worker, { kind: 'open', url, dims, modelDir })) as { location: string; dims: number };
      const counted = (await call(worker, { kind: 'count' })) as { people: number; templates: number };
      return new GalleryStoreThread(worker, opened.location, opened.dims, counted);
    } catch (err) {
      await worker.terminate();
      throw err;
    }
  }

  async enroll(person: string, templates: FaceTemplate[]): Promise<EnrollCount> {
    return (await this.call({ kind: 'enroll', person, templates })) as EnrollCount;
  }

  async forget(person: string): Promise<boolean> {
    return (await this.call({ kind: 'forget', person })) as boolean;
  }

  async people(): Promise<PersonSummary[]> {
    return (await this.call({ kind: 'people' })) as PersonSummary[];
  }

  /**
   * The count, or while the thread is inside another call the count it last answered: `/healthz`
   * asks for it, and a liveness probe must not wait for a forget's table rewrite (one PGlite
   * statement that holds the store's thread for seconds in a large gallery).
   */
  async count(): Promise<{ people: number; templates: number }> {
    if (this.inFlight > 0) return this.lastCount;
    this.lastCount = (await this.call({ kind: 'count' })) as { people: number; templates: number };
    return this.lastCount;
  }

  async nearest(embedding: Float32Array, k: number): Promise<Neighbour[]> {
    return (await this.call({ kind: 'nearest', embedding, k })) as Neighbour[];
  }

  /** Closes the store in its thread (the embedded store saves its search index) and ends the thread. */
  async close(): Promise<void> {
    try {
      await this.call({ kind: 'close' });
    } catch (err) {
      await this.worker.terminate();
      throw err;
    }
    await this.worker.exited;
  }

  private async call(request: GalleryStoreRequest): Promise<unknown> {
    this.inFlight++;
    try {
      return await call(this.worker, request);
    } finally {
      this.inFlight--;
    }
  }
}

async function call(worker: WorkerClient<GalleryStoreRequest, GalleryStoreReply>, request: GalleryStoreRequest): Promise<unknown> {
  const reply = await worker.request(request);
  throwWorkerFailure(reply.failure, 'gallery worker');
  return reply.value;
}
