import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { replaceFileAtomic } from '../util/fs.js';
import { ExactRows } from './exact-rows.js';
import { GRAPH_SHARDS, GraphShards } from './graph-shards.js';

/**
 * Up to this many templates a search is an exact scan (usearch's SIMD `exactSearch` over the
 * vectors kept in memory) and no graph is built: a few ms there, the same answers as the file
 * store, and no graph to miss a neighbour; the graph is built when an enrolment takes the gallery
 * past it (README "Galleries").
 */
export const EXACT_SEARCH_UP_TO = 20_000;

/** `templates.<generation>.<shard>.usearch`; the single-file index of earlier versions had no shard number. */
const FILE_PATTERN = /^templates\.\d+(\.\d+)?\.usearch$/;
/** Leftovers of an interrupted save (`replaceFileAtomic`'s temporary files): they may hold forgotten vectors. */
const LEFTOVER_PATTERN = /^templates\.\d+(\.\d+)?\.usearch\..+\.tmp$/;

/** The gallery's generation: a counter the database bumps in every enrol and forget transaction. */
export interface IndexedState {
  generation: bigint;
  templates: number;
}

/** Rows of the source of truth, in batches: ids (the templates' row ids) and their vectors, back to back. */
export type TemplateBatches = () => AsyncIterable<{ ids: BigUint64Array; vectors: Float32Array }>;

/**
 * A search accelerator for a gallery kept in a database, keyed by the templates' row ids: an
 * exact scan of the vectors in memory up to `exactUpTo` templates, a usearch HNSW graph in
 * GRAPH_SHARDS shards (`graph-shards.ts`, native code, SIMD, one thread per shard) above, saved as
 * `templates.<generation>.<shard>.usearch` in the gallery's folder. The database stays the source
 * of truth: files whose generation or size does not match it are stale and the graph is rebuilt
 * from it. The graph keeps the true float32 vectors, so the similarities of the templates it
 * finds are exact (only which templates it visits is approximate: recall@1 is measured in the bench).
 */
export class TemplateIndex {
  private dirty = false;

  private constructor(
    private readonly dir: string,
    private readonly dims: number,
    private generation: bigint,
    private readonly exactUpTo: number,
    /** The vectors, searched exactly, while the gallery has at most `exactUpTo` templates (and no graph). */
    private exact: ExactRows | undefined,
    private graph: GraphShards | undefined,
  ) {}

  private static files(dir: string, generation: bigint): string[] {
    return Array.from({ length: GRAPH_SHARDS }, (_, shard) => path.join(dir, `templates.${generation}.${shard}.usearch`));
  }

  /** Deletes the graph's files and leftovers in `dir`, but those in `keep`. */
  private static async removeFiles(dir: string, keep: string[] = []): Promise<void> {
    for (const name of await readdir(dir)) {
      const full = path.join(dir, name);
      if ((FILE_PATTERN.test(name) || LEFTOVER_PATTERN.test(name)) && !keep.includes(full)) await rm(full, { force: true });
    }
  }

  /**
   * The index of the gallery as the database has it now. Up to `exactUpTo` templates: the vectors
   * read into memory, no graph (files of one are deleted). Above: the saved graph when its files
   * are of this generation and size, else rebuilt from `rows` (and saved). Other generations'
   * files and leftovers of interrupted saves are deleted.
   */
  static async open(dir: string, dims: number, state: IndexedState, rows: TemplateBatches, exactUpTo = EXACT_SEARCH_UP_TO): Promise<TemplateIndex> {
    if (state.templates <= exactUpTo) {
      await TemplateIndex.removeFiles(dir);
      const exact = new ExactRows(dims);
      for await (const batch of rows()) exact.add(batch.ids, batch.vectors);
      return new TemplateIndex(dir, dims, state.generation, exactUpTo, exact, undefined);
    }
    const files = TemplateIndex.files(dir, state.generation);
    await TemplateIndex.removeFiles(dir, files);
    const present = new Set(await readdir(dir));
    let graph = await GraphShards.start(dims);
    if (files.every((file) => present.has(path.basename(file)))) {
      // an unreadable file, or files holding another number of templates, are rebuilt like stale ones
      const held = await graph.load(files).catch(() => -1);
      if (held === state.templates) return new TemplateIndex(dir, dims, state.generation, exactUpTo, undefined, graph);
      await graph.terminate();
      graph = await GraphShards.start(dims);
    }
    const index = new TemplateIndex(dir, dims, state.generation, exactUpTo, undefined, graph);
    try {
      for await (const batch of rows()) await graph.add(batch.ids, batch.vectors);
      index.dirty = true;
      await index.save();
    } catch (err) {
      await graph.terminate();
      throw err;
    }
    return index;
  }

  /**
   * Adds templates committed in the database at `generation` (ids ascending); saved by `save` (or
   * `close`). The enrolment that takes the gallery past `exactUpTo` builds the graph of every
   * template, in row-id order as a rebuild would.
   */
  async add(ids: BigUint64Array, vectors: Float32Array, generation: bigint): Promise<void> {
    if (this.exact && this.exact.size + ids.length > this.exactUpTo) {
      const graph = await GraphShards.start(this.dims);
      const held = this.exact.byId();
      await graph.add(held.ids, held.vectors);
      [this.graph, this.exact] = [graph, undefined];
    }
    if (this.graph) await this.graph.add(ids, vectors);
    else this.exact!.add(ids, vectors);
    this.generation = generation;
    this.dirty = true;
  }

  /**
   * Removes templates forgotten in the database at `generation`, and saves at once (no copy of
   * their vectors stays in the saved graph: the shards overwrite the freed slots, see
   * graph-shard-worker.ts; test/gallery-index.test.ts searches the files for the bytes).
   */
  async remove(ids: BigUint64Array, generation: bigint): Promise<void> {
    this.exact?.remove(ids);
    await this.graph?.remove(ids);
    this.generation = generation;
    this.dirty = true;
    await this.save();
  }

  /** Up to `k` row ids with their cosine similarity (inner product of unit vectors), most similar first. */
  async search(embedding: Float32Array, k: number): Promise<{ id: bigint; similarity: number }[]> {
    const { keys, distances } = this.graph ? await this.graph.search(embedding, k) : this.exact!.search(embedding, k);
    // usearch's inner-product distance is 1 - dot
    return keys.map((id, i) => ({ id, similarity: 1 - distances[i]! }));
  }

  /** Writes the graph of the current generation (each shard's file atomically) if it changed, and deletes the previous files. */
  async save(): Promise<void> {
    if (!this.dirty || !this.graph) return;
    const files = TemplateIndex.files(this.dir, this.generation);
    await this.graph.save((shard, save) => replaceFileAtomic(files[shard]!, save));
    await TemplateIndex.removeFiles(this.dir, files);
    this.dirty = false;
  }

  /** Saves, and ends the graph's threads. */
  async close(): Promise<void> {
    try {
      await this.save();
    } finally {
      await this.graph?.terminate();
    }
  }
}
