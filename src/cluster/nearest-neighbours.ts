/**
 * The k most similar vectors of every unit vector (exact, by cosine = dot product), found in
 * blocks: each pair is scored once and offered to both of its rows' lists. O(n^2 d / 2)
 * multiply-adds (at 10^4 faces of 192 values, about 10^10: under a minute) and O(n k) memory, where the
 * full similarity matrix of average linkage needed n^2 / 2 floats (200 MB at 10^4 faces).
 *
 * Why exact and not HNSW: hnswlib-node builds with node-gyp at install (npm 11 skips install
 * scripts it was not told to allow, and node-gyp downloads Node's headers, which is not possible
 * offline), and the pure-JS HNSW packages are little used; below a few 10^4 faces the exact search
 * is small next to finding and embedding the faces, and its answer depends on no search parameter.
 */
export interface NeighbourGraph {
  /** Neighbours per vector (fewer when there are fewer other vectors). */
  readonly k: number;
  /** `index[i * k + r]`: the r-th most similar vector to i (-1 when absent), most similar first. */
  readonly index: Int32Array;
  /** `similarity[i * k + r]`: its cosine similarity. */
  readonly similarity: Float32Array;
}

function dot(a: Float32Array, b: Float32Array): number {
  // four partial sums: this loop is the O(n^2 d) bulk, and V8 does not vectorise it by itself
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let d = 0;
  for (; d + 3 < a.length; d += 4) {
    s0 += a[d]! * b[d]!;
    s1 += a[d + 1]! * b[d + 1]!;
    s2 += a[d + 2]! * b[d + 2]!;
    s3 += a[d + 3]! * b[d + 3]!;
  }
  for (; d < a.length; d++) s0 += a[d]! * b[d]!;
  return s0 + s1 + s2 + s3;
}

/** Offers neighbour j at similarity s to row i's list, kept sorted best first (ties: the one offered first). */
function offer(graph: NeighbourGraph, worst: Float32Array, i: number, j: number, s: number): void {
  // most offers lose to the row's k-th best: one comparison, no call into the list
  if (s <= worst[i]!) return;
  const { k, index, similarity } = graph;
  const start = i * k;
  let r = k - 1;
  while (r > 0 && (index[start + r - 1]! < 0 || similarity[start + r - 1]! < s)) {
    index[start + r] = index[start + r - 1]!;
    similarity[start + r] = similarity[start + r - 1]!;
    r--;
  }
  index[start + r] = j;
  similarity[start + r] = s;
  if (index[start + k - 1]! >= 0) worst[i] = similarity[start + k - 1]!;
}

/** Rows of a block against every later row: the block's rows stay in cache while the others stream past. */
const BLOCK = 64;

export function nearestNeighbours(vectors: readonly Float32Array[], k: number): NeighbourGraph {
  const n = vectors.length;
  const width = Math.max(0, Math.min(k, n - 1));
  const graph: NeighbourGraph = { k: width, index: new Int32Array(n * width).fill(-1), similarity: new Float32Array(n * width) };
  if (width === 0) return graph;
  // the k-th best similarity of each row so far (-Infinity while its list is not full)
  const worst = new Float32Array(n).fill(-Infinity);
  for (let block = 0; block < n; block += BLOCK) {
    const end = Math.min(block + BLOCK, n);
    for (let i = block; i < end; i++) {
      for (let j = i + 1; j < end; j++) {
        const s = dot(vectors[i]!, vectors[j]!);
        offer(graph, worst, i, j, s);
        offer(graph, worst, j, i, s);
      }
    }
    for (let j = end; j < n; j++) {
      const b = vectors[j]!;
      for (let i = block; i < end; i++) {
        const s = dot(vectors[i]!, b);
        offer(graph, worst, i, j, s);
        offer(graph, worst, j, i, s);
      }
    }
  }
  return graph;
}
