import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import usearch, { type Index as UsearchIndex } from 'usearch';
import { replaceFileAtomic } from '../util/fs.js';
import { createRandom } from '../util/random.js';
import { ExactRows } from './exact-rows.js';

/**
 * HNSW settings of the embedded store's search index, chosen by `BENCH_ONLY=gallery-recall`
 * (bench/gallery-recall.ts, README "Galleries"): recall@1 against exact search and p50/p99 on
 * random unit vectors (the worst case) and face-shaped data, 192-d and 512-d, at 10^5.
 */
export const HNSW_SETTINGS = { connectivity: 32, expansionAdd: 128, expansionSearch: 1024 } as const;
/**
 * Up to this many templates a search is an exact scan (usearch's SIMD `exactSearch` over the
 * vectors kept in memory beside the graph): a few ms there, the same answers as the file store,
 * and no graph to miss a neighbour; above it the graph answers (README "Galleries").
 */
export const EXACT_SEARCH_UP_TO = 20_000;
/**
 * Threads for adds. One: with two, the graph depends on which thread inserted first, so a rebuilt
 * index could answer a query differently from the one it replaces (test/gallery-index.test.ts
 * failed that way in CI); a rebuild takes about twice as long.
 */
const ADD_THREADS = 1;

const FILE_PATTERN = /^templates\.(\d+)\.usearch$/;
/** Leftovers of an interrupted save (`replaceFileAtomic`'s temporary files): they may hold forgotten vectors. */
const LEFTOVER_PATTERN = /^templates\.\d+\.usearch\..+\.tmp$/;

/** The gallery's generation: a counter the database bumps in every enrol and forget transaction. */
export interface IndexedState {
  generation: bigint;
  templates: number;
}

/** Rows of the source of truth, in batches: ids (the templates' row ids) and their vectors, back to back. */
export type TemplateBatches = () => AsyncIterable<{ ids: BigUint64Array; vectors: Float32Array }>;

/**
 * A search accelerator for a gallery kept in a database: a usearch HNSW graph (native code, SIMD)
 * over the templates' vectors, keyed by their row ids, saved as `templates.<generation>.usearch`
 * in the gallery's folder. The database stays the source of truth: a file whose generation or
 * size does not match it is stale and rebuilt from it. The index keeps the true float32 vectors,
 * so the similarities of the templates it finds are exact (only which templates it visits is
 * approximate: recall@1 is measured in the bench).
 */
export class TemplateIndex {
  private dirty = false;

  private constructor(
    private readonly dir: string,
    private readonly index: UsearchIndex,
    private generation: bigint,
    private readonly exactUpTo: number,
    /** The vectors again, for an exact scan, while the gallery has at most `exactUpTo` templates. */
    private exact: ExactRows | undefined,
  ) {}

  private static create(dims: number): UsearchIndex {
    return new usearch.Index({
      dimensions: dims,
      // inner product of unit vectors = cosine; f32 keeps the exact vectors (see the README's figures for f16/i8)
      metric: usearch.MetricKind.IP,
      quantization: usearch.ScalarKind.F32,
      connectivity: HNSW_SETTINGS.connectivity,
      expansion_add: HNSW_SETTINGS.expansionAdd,
      expansion_search: HNSW_SETTINGS.expansionSearch,
      multi: false,
    });
  }

  private static file(dir: string, generation: bigint): string {
    return path.join(dir, `templates.${generation}.usearch`);
  }

  /**
   * The index of the gallery as the database has it now: the saved file when it is of this
   * generation and size, else rebuilt from `rows` (and saved). Other generations' files and
   * leftovers of interrupted saves are deleted. Up to `exactUpTo` templates the vectors are also
   * read into memory and searched exactly.
   */
  static async open(dir: string, dims: number, state: IndexedState, rows: TemplateBatches, exactUpTo = EXACT_SEARCH_UP_TO): Promise<TemplateIndex> {
    const current = TemplateIndex.file(dir, state.generation);
    let native: UsearchIndex | undefined;
    for (const name of await readdir(dir)) {
      const full = path.join(dir, name);
      if (full === current) {
        const loaded = TemplateIndex.create(dims);
        try {
          loaded.load(full);
          if (loaded.size() === state.templates && loaded.dimensions() === dims) native = loaded;
        } catch {
          // an unreadable file is rebuilt like a stale one
        }
      } else if (FILE_PATTERN.test(name) || LEFTOVER_PATTERN.test(name)) await rm(full, { force: true });
    }
    const exact = state.templates <= exactUpTo ? new ExactRows(dims) : undefined;
    if (native) {
      if (exact) for await (const batch of rows()) exact.add(batch.ids, batch.vectors);
      return new TemplateIndex(dir, native, state.generation, exactUpTo, exact);
    }
    const index = new TemplateIndex(dir, TemplateIndex.create(dims), state.generation, exactUpTo, exact);
    index.dirty = true;
    for await (const batch of rows()) index.add(batch.ids, batch.vectors, state.generation);
    await index.save();
    return index;
  }

  /** Adds templates committed in the database at `generation`; saved by `save` (or `close`). */
  add(ids: BigUint64Array, vectors: Float32Array, generation: bigint): void {
    if (ids.length > 0) this.index.add(ids, vectors, ADD_THREADS);
    // past the exact scan's size the graph answers alone (until the next open of a smaller gallery)
    if (this.exact && this.exact.size + ids.length > this.exactUpTo) this.exact = undefined;
    this.exact?.add(ids, vectors);
    this.generation = generation;
    this.dirty = true;
  }

  /**
   * Removes templates forgotten in the database at `generation`, and saves at once: usearch
   * marks a removed vector free but keeps its bytes in memory and in a saved file, so the
   * removed slots are overwritten (by adding and removing as many random scratch vectors, which reuse them)
   * before the file is replaced. test/gallery-index.test.ts searches the file for the bytes.
   */
  async remove(ids: BigUint64Array, generation: bigint): Promise<void> {
    this.exact?.remove(ids);
    if (ids.length > 0) {
      this.index.remove(ids);
      const scratch = BigUint64Array.from(ids, (_, i) => SCRATCH_KEY_BASE + BigInt(i));
      // random rather than zero: vectors all equally far from everything are a degenerate case for HNSW's insertion walk
      const random = createRandom(ids.length);
      this.index.add(scratch, Float32Array.from({ length: ids.length * this.index.dimensions() }, () => random() - 0.5), 1);
      this.index.remove(scratch);
    }
    this.generation = generation;
    this.dirty = true;
    await this.save();
  }

  /** Up to `k` row ids with their cosine similarity (inner product of unit vectors), most similar first. */
  search(embedding: Float32Array, k: number): { id: bigint; similarity: number }[] {
    if (this.index.size() === 0) return [];
    const { keys, distances } = this.exact ? this.exact.search(embedding, k) : this.index.search(embedding, Math.min(k, this.index.size()), 1);
    // usearch's inner-product distance is 1 - dot
    return Array.from(keys, (id: bigint, i) => ({ id, similarity: 1 - distances[i]! })).filter((hit) => hit.id < SCRATCH_KEY_BASE);
  }

  /** Writes the index of the current generation (atomically) if it changed, and deletes the previous file. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    const file = TemplateIndex.file(this.dir, this.generation);
    await replaceFileAtomic(file, (tmp) => this.index.save(tmp));
    for (const name of await readdir(this.dir)) {
      if (FILE_PATTERN.test(name) && path.join(this.dir, name) !== file) await rm(path.join(this.dir, name), { force: true });
    }
    this.dirty = false;
  }
}

/** Keys of the scratch vectors that overwrite removed ones: above any row id PostgreSQL hands out in practice. */
const SCRATCH_KEY_BASE = 1n << 62n;
