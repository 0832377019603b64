import { parentPort } from 'node:worker_threads';
import { workerFailureOf } from '../runtime/worker-client.js';
import { openGallery } from '../gallery/open.js';
import type { GalleryStore } from '../gallery/store.js';
import type { GalleryStoreReply, GalleryStoreRequest } from './gallery-store-thread.js';

/**
 * The thread that owns a served gallery (`serve --gallery`): the embedded store's usearch search,
 * PGlite's transactions and a forget's table rewrite, the file store's scan and the node-postgres
 * pool all run here, never on the server's event loop.
 */
const port = parentPort!;
let store: GalleryStore | undefined;

async function handle(request: GalleryStoreRequest): Promise<Omit<GalleryStoreReply, 'id'>> {
  switch (request.kind) {
    case 'open': {
      store = await openGallery(request.url, request.dims, request.modelDir);
      return { value: { location: store.location, dims: store.dims } };
    }
    case 'close':
      await store?.close();
      setImmediate(() => port.close());
      return {};
    case 'enroll':
      return { value: await store!.enroll(request.person, request.templates) };
    case 'forget':
      return { value: await store!.forget(request.person) };
    case 'people':
      return { value: await store!.people() };
    case 'count':
      return { value: await store!.count() };
    case 'nearest':
      return { value: await store!.nearest(request.embedding, request.k) };
  }
}

port.on('message', (request: GalleryStoreRequest & { id: number }) => {
  handle(request).then(
    (reply) => port.postMessage({ ...reply, id: request.id }),
    (err: unknown) => {
      port.postMessage({ id: request.id, failure: workerFailureOf(err) });
    },
  );
});
port.postMessage({ ready: true });
