import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import usearch, { type Index as UsearchIndex } from 'usearch';
import { replaceFileAtomic } from '../util/fs.js';
import { createRandom } from '../util/random.js';

/**
 * HNSW settings of the embedded store's search index, measured on synthetic 512-d unit vectors
 * (README "Galleries"): with expansion_search 128, recall@1 0.995 at 10^4 but 0.665 at 10^5;
 * 512 took queries near a stored vector from 0.58 to 0.94 at 10^5 for about three times the
 * search time (a few ms). Still short of 0.99 there: connectivity is the next setting to raise.
 */
const CONNECTIVITY = 16;
const EXPANSION_ADD = 64;
const EXPANSION_SEARCH = 512;
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
  ) {}

  private static create(dims: number): UsearchIndex {
    return new usearch.Index({
      dimensions: dims,
      // inner product of unit vectors = cosine; f32 keeps the exact vectors (see the README's figures for f16/i8)
      metric: usearch.MetricKind.IP,
      quantization: usearch.ScalarKind.F32,
      connectivity: CONNECTIVITY,
      expansion_add: EXPANSION_ADD,
      expansion_search: EXPANSION_SEARCH,
      multi: false,
    });
  }

  private static file(dir: string, generation: bigint): string {
    return path.join(dir, `templates.${generation}.usearch`);
  }

  /**
   * The index of the gallery as the database has it now: the saved file when it is of this
   * generation and size, else rebuilt from `rows` (and saved). Other generations' files and
   * leftovers of interrupted saves are deleted.
   */
  static async open(dir: string, dims: number, state: IndexedState, rows: TemplateBatches): Promise<TemplateIndex> {
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
    if (native) return new TemplateIndex(dir, native, state.generation);
    const index = new TemplateIndex(dir, TemplateIndex.create(dims), state.generation);
    index.dirty = true;
    for await (const batch of rows()) index.add(batch.ids, batch.vectors, state.generation);
    await index.save();
    return index;
  }

  /** Adds templates committed in the database at `generation`; saved by `save` (or `close`). */
  add(ids: BigUint64Array, vectors: Float32Array, generation: bigint): void {
    if (ids.length > 0) this.index.add(ids, vectors, ADD_THREADS);
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
    const { keys, distances } = this.index.search(embedding, Math.min(k, this.index.size()), 1);
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
