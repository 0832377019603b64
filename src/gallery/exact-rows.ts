import usearch from 'usearch';

/**
 * Templates' vectors in one growing matrix, searched by usearch's exact SIMD scan: what a small
 * gallery is searched with (no graph to miss a neighbour; see EXACT_SEARCH_UP_TO).
 */
export class ExactRows {
  private ids = new BigUint64Array(1024);
  private matrix: Float32Array;
  private rowOf = new Map<bigint, number>();

  constructor(private readonly dims: number) {
    this.matrix = new Float32Array(this.ids.length * dims);
  }

  get size(): number {
    return this.rowOf.size;
  }

  add(ids: BigUint64Array, vectors: Float32Array): void {
    const needed = this.size + ids.length;
    if (needed > this.ids.length) {
      const capacity = Math.max(needed, this.ids.length * 2);
      const grownIds = new BigUint64Array(capacity);
      grownIds.set(this.ids.subarray(0, this.size));
      const grown = new Float32Array(capacity * this.dims);
      grown.set(this.matrix.subarray(0, this.size * this.dims));
      this.matrix.fill(0);
      [this.ids, this.matrix] = [grownIds, grown];
    }
    ids.forEach((id, i) => {
      const row = this.size;
      this.ids[row] = id;
      this.matrix.set(vectors.subarray(i * this.dims, (i + 1) * this.dims), row * this.dims);
      this.rowOf.set(id, row);
    });
  }

  /** Removes rows by moving the last row into each freed one; the freed tail is zeroed (no copy of a forgotten vector stays). */
  remove(ids: BigUint64Array): void {
    for (const id of ids) {
      const row = this.rowOf.get(id);
      if (row === undefined) continue;
      const last = this.size - 1;
      if (row !== last) {
        const lastId = this.ids[last]!;
        this.matrix.copyWithin(row * this.dims, last * this.dims, (last + 1) * this.dims);
        this.ids[row] = lastId;
        this.rowOf.set(lastId, row);
      }
      this.matrix.fill(0, last * this.dims, (last + 1) * this.dims);
      this.rowOf.delete(id);
    }
  }

  /** Every row, ordered by id: the order in which a rebuild from the database adds them to a graph. */
  byId(): { ids: BigUint64Array; vectors: Float32Array } {
    const rows = Array.from({ length: this.size }, (_, row) => row).sort((a, b) => (this.ids[a]! < this.ids[b]! ? -1 : 1));
    const vectors = new Float32Array(rows.length * this.dims);
    rows.forEach((row, i) => vectors.set(this.matrix.subarray(row * this.dims, (row + 1) * this.dims), i * this.dims));
    return { ids: BigUint64Array.from(rows, (row) => this.ids[row]!), vectors };
  }

  /** The exact `k` nearest by inner product: ids and usearch's distance (1 - dot). */
  search(embedding: Float32Array, k: number): { keys: bigint[]; distances: Float32Array } {
    if (this.size === 0) return { keys: [], distances: new Float32Array(0) };
    const found = usearch.exactSearch(this.matrix.subarray(0, this.size * this.dims), embedding, this.dims, Math.min(k, this.size), usearch.MetricKind.IP, 1) as { keys: BigUint64Array; distances: Float32Array };
    return { keys: Array.from(found.keys, (row) => this.ids[Number(row)]!), distances: found.distances };
  }
}
