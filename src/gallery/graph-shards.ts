import { WorkerClient, type WorkerReply } from '../runtime/worker-client.js';

/**
 * HNSW settings of the embedded store's search graph, chosen by `BENCH_ONLY=gallery-recall`
 * (bench/gallery-recall.ts, README "Galleries"): recall@1 against exact search and p50/p99 on
 * random unit vectors (the worst case) and face-shaped data, 192-d and 512-d, at 10^5.
 */
export const HNSW_SETTINGS = { connectivity: 32, expansionAdd: 64, expansionSearch: 1024 } as const;

/**
 * Shards of the graph, each built and searched on a thread of its own. Fixed rather than the
 * machine's core count, so that a gallery's graph is the same on every machine (a copied
 * gallery's files stay valid, a rebuild gives the same files); 2 = the cores of the machine the
 * README's figures were measured on. More shards make each insertion cheaper (smaller graphs)
 * but every query searches each of them.
 */
export const GRAPH_SHARDS = 2;

/** Keys of the scratch vectors that overwrite removed ones: above any row id PostgreSQL hands out in practice. */
export const SCRATCH_KEY_BASE = 1n << 62n;

export type GraphShardRequest =
  | { kind: 'add'; ids: BigUint64Array; vectors: Float32Array }
  | { kind: 'remove'; ids: BigUint64Array }
  | { kind: 'search'; vector: Float32Array; k: number }
  | { kind: 'save'; file: string }
  | { kind: 'load'; file: string };

export interface GraphShardReply extends WorkerReply {
  size?: number;
  keys?: BigUint64Array;
  distances?: Float32Array;
}

const WORKER = new URL('./graph-shard-worker.js', import.meta.url);

/**
 * The embedded store's HNSW graph in GRAPH_SHARDS shards, a row going to shard `id mod shards`,
 * each shard a usearch index in its own worker thread (`graph-shard-worker.ts`). Adding to all
 * shards at once uses that many cores, and stays deterministic: each shard is built on one
 * thread in row-id order (usearch's own threads make the graph depend on which thread inserted
 * first). A query searches every shard at once and keeps the nearest of their answers.
 */
export class GraphShards {
  private constructor(private readonly shards: WorkerClient<GraphShardRequest, GraphShardReply>[], private readonly dims: number) {}

  static async start(dims: number): Promise<GraphShards> {
    const shards = await Promise.all(Array.from({ length: GRAPH_SHARDS }, (_, i) => WorkerClient.start<GraphShardRequest, GraphShardReply>(WORKER, { dims }, `graph shard ${i}`)));
    return new GraphShards(shards, dims);
  }

  /** Adds rows (ids ascending, as the database hands them out): each shard gets its own, in the same order. */
  async add(ids: BigUint64Array, vectors: Float32Array): Promise<void> {
    const sizes = new Array<number>(this.shards.length).fill(0);
    for (const id of ids) sizes[this.shardOf(id)]!++;
    const parts = sizes.map((size) => ({ ids: new BigUint64Array(size), vectors: new Float32Array(size * this.dims), filled: 0 }));
    ids.forEach((id, i) => {
      const part = parts[this.shardOf(id)]!;
      part.ids[part.filled] = id;
      part.vectors.set(vectors.subarray(i * this.dims, (i + 1) * this.dims), part.filled * this.dims);
      part.filled++;
    });
    await Promise.all(parts.map((part, i) => this.shards[i]!.request({ kind: 'add', ids: part.ids, vectors: part.vectors }, [part.ids.buffer, part.vectors.buffer])));
  }

  async remove(ids: BigUint64Array): Promise<void> {
    await Promise.all(this.shards.map((shard, i) => shard.request({ kind: 'remove', ids: ids.filter((id) => this.shardOf(id) === i) })));
  }

  /** A row's shard: its id mod the shards. */
  private shardOf(id: bigint): number {
    return Number(id % BigInt(this.shards.length));
  }

  /** Up to `k` nearest rows over every shard: ids and usearch's distance (1 - dot), nearest first. */
  async search(embedding: Float32Array, k: number): Promise<{ keys: bigint[]; distances: number[] }> {
    const answers = await Promise.all(this.shards.map((shard) => shard.request({ kind: 'search', vector: embedding, k })));
    const hits = answers.flatMap((a) => Array.from(a.keys!, (key, i) => ({ key, distance: a.distances![i]! })));
    hits.sort((a, b) => a.distance - b.distance);
    const nearest = hits.filter((hit) => hit.key < SCRATCH_KEY_BASE).slice(0, k);
    return { keys: nearest.map((hit) => hit.key), distances: nearest.map((hit) => hit.distance) };
  }

  /** Saves shard `i` through `write(i, save)`, which gives it the path to write (see `replaceFileAtomic`). */
  async save(write: (shard: number, save: (file: string) => Promise<void>) => Promise<void>): Promise<void> {
    await Promise.all(this.shards.map((shard, i) => write(i, async (file) => void (await shard.request({ kind: 'save', file })))));
  }

  /** Loads shard `i` from `files[i]`; the templates the shards hold. */
  async load(files: string[]): Promise<number> {
    const replies = await Promise.all(this.shards.map((shard, i) => shard.request({ kind: 'load', file: files[i]! })));
    return replies.reduce((sum, r) => sum + r.size!, 0);
  }

  async terminate(): Promise<void> {
    await Promise.all(this.shards.map((shard) => shard.terminate()));
  }
}
