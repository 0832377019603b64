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
  private constructor(
    private readonly worker: WorkerClient<GalleryStoreRequest, GalleryStoreReply>,
    readonly location: string,
    readonly dims: number,
  ) {}

  static async open(url: string, dims: number, modelDir?: string): Promise<GalleryStoreThread> {
    const worker = await WorkerClient.start<GalleryStoreRequest, GalleryStoreReply>(new URL('./gallery-store-worker.js', import.meta.url), undefined, 'gallery worker');
    try {
      const opened = (await call(worker, { kind: 'open', url, dims, modelDir })) as { location: string; dims: number };
      return new GalleryStoreThread(worker, opened.location, opened.dims);
    } catch (err) {
      await worker.terminate();
      throw err;
    }
  }

  async enroll(person: string, templates: FaceTemplate[]): Promise<EnrollCount> {
    return (await call(this.worker, { kind: 'enroll', person, templates })) as EnrollCount;
  }

  async forget(person: string): Promise<boolean> {
    return (await call(this.worker, { kind: 'forget', person })) as boolean;
  }

  async people(): Promise<PersonSummary[]> {
    return (await call(this.worker, { kind: 'people' })) as PersonSummary[];
  }

  async count(): Promise<{ people: number; templates: number }> {
    return (await call(this.worker, { kind: 'count' })) as { people: number; templates: number };
  }

  async nearest(embedding: Float32Array, k: number): Promise<Neighbour[]> {
    return (await call(this.worker, { kind: 'nearest', embedding, k })) as Neighbour[];
  }

  /** Closes the store in its thread (the embedded store saves its search index) and ends the thread. */
  async close(): Promise<void> {
    try {
      await call(this.worker, { kind: 'close' });
    } catch (err) {
      await this.worker.terminate();
      throw err;
    }
    await this.worker.exited;
  }
}

async function call(worker: WorkerClient<GalleryStoreRequest, GalleryStoreReply>, request: GalleryStoreRequest): Promise<unknown> {
  const reply = await worker.request(request);
  throwWorkerFailure(reply.failure, 'gallery worker');
  return reply.value;
}
