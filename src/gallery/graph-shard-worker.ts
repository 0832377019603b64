import { parentPort, workerData } from 'node:worker_threads';
import type { Index as UsearchIndex } from 'usearch';
import { createRandom } from '../util/random.js';
import { unitVectorIndex } from '../util/usearch-index.js';
import { HNSW_SETTINGS, SCRATCH_KEY_BASE, type GraphShardReply, type GraphShardRequest } from './graph-shards.js';

/**
 * One shard of the embedded store's HNSW graph (`graph-shards.ts`), in a thread of its own so that
 * the shards are built at once on different cores; each shard is added to on this one thread, in
 * the order its rows come, so its graph depends only on the rows.
 */
const port = parentPort!;
const dims = (workerData as { dims: number }).dims;

const create = (): UsearchIndex => unitVectorIndex(dims, HNSW_SETTINGS);

let index = create();

function handle(request: GraphShardRequest): Omit<GraphShardReply, 'id'> {
  switch (request.kind) {
    case 'add':
      if (request.ids.length > 0) index.add(request.ids, request.vectors, 1);
      return { size: index.size() };
    case 'remove': {
      const { ids } = request;
      if (ids.length > 0) {
        index.remove(ids);
        // usearch's remove only marks a slot free (its bytes stay, in memory and in a saved file): as many random
        // scratch vectors reuse the freed slots and are removed in turn. Random rather than zero: vectors all
        // equally far from everything are a degenerate case for HNSW's insertion walk.
        const scratch = BigUint64Array.from(ids, (_, i) => SCRATCH_KEY_BASE + BigInt(i));
        const random = createRandom(ids.length);
        index.add(scratch, Float32Array.from({ length: ids.length * dims }, () => random() - 0.5), 1);
        index.remove(scratch);
      }
      return { size: index.size() };
    }
    case 'search': {
      if (index.size() === 0) return { keys: new BigUint64Array(0), distances: new Float32Array(0) };
      const found = index.search(request.vector, Math.min(request.k, index.size()), 1);
      return { keys: found.keys, distances: found.distances };
    }
    case 'save':
      index.save(request.file);
      return {};
    case 'load': {
      const loaded = create();
      loaded.load(request.file);
      if (loaded.dimensions() !== dims) throw new Error(`${request.file} holds ${loaded.dimensions()}-value vectors, not ${dims}`);
      index = loaded;
      return { size: index.size() };
    }
  }
}

port.on('message', (request: GraphShardRequest & { id: number }) => {
  try {
    const reply = handle(request);
    const transfer = reply.keys ? [reply.keys.buffer as ArrayBuffer, reply.distances!.buffer as ArrayBuffer] : [];
    port.postMessage({ ...reply, id: request.id }, transfer);
  } catch (err) {
    port.postMessage({ id: request.id, error: (err as Error).message });
  }
});
port.postMessage({ ready: true });
