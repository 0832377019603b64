import type { BatchMatches } from 'usearch';
import { unitVectorIndex } from '../util/usearch-index.js';

/**
 * The k most similar vectors of every unit vector, by cosine (= dot product). Two ways:
 * - exact, in blocks: each pair is scored once and offered to both of its rows' lists. O(n^2 d / 2)
 *   multiply-adds and O(n k) memory (the full matrix of average linkage needed n^2 / 2 floats).
 * - approximate, an HNSW graph (usearch, native, Apache-2.0, prebuilt binaries in its npm package):
 *   O(n log n) expected to build and to query every vector (each insertion and query walks
 *   O(log n) layers, `expansion` candidates each), O(n (d + connectivity)) memory.
 * `auto` takes the exact search below EXACT_BELOW vectors, where it costs no more than the index,
 * and its answer depends on no search parameter.
 */
export type NeighbourSearch = 'auto' | 'exact' | 'approximate';

export interface NeighbourGraph {
  /** Neighbours per vector (fewer when there are fewer other vectors). */
  readonly k: number;
  /** `index[i * k + r]`: the r-th most similar vector to i (-1 when absent), most similar first. */
  readonly index: Int32Array;
  /** `similarity[i * k + r]`: its cosine similarity. */
  readonly similarity: Float32Array;
}

export function dot(a: Float32Array, b: Float32Array): number {
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

export function exactNeighbours(vectors: readonly Float32Array[], k: number): NeighbourGraph {
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

/**
 * HNSW settings: they find 99.9 % of the true 10 neighbours of 10^4 faces shaped like people (blobs
 * at cosine ~0.5) and of the mix's faces resampled, where a search expansion of 64 (the previous
 * try) found 87 % of random vectors' neighbours; random vectors have no structure for the graph to
 * follow (89 % at 10^4 with these), and no pair similar enough to be linked (bench/cluster.ts).
 */
export const HNSW = Object.freeze({ connectivity: 16, expansionAdd: 128, expansionSearch: 128 });

/** Below this many vectors the exact search is as fast as building and searching the HNSW index (bench/cluster.ts). */
export const EXACT_BELOW = 5000;

export function approximateNeighbours(vectors: readonly Float32Array[], k: number): NeighbourGraph {
  const n = vectors.length;
  const width = Math.max(0, Math.min(k, n - 1));
  const graph: NeighbourGraph = { k: width, index: new Int32Array(n * width).fill(-1), similarity: new Float32Array(n * width) };
  if (width === 0) return graph;
  const dims = vectors[0]!.length;
  const matrix = new Float32Array(n * dims);
  vectors.forEach((v, i) => matrix.set(v, i * dims));
  const index = unitVectorIndex(dims, HNSW);
  // one thread: vectors go in in order, so the same vectors give the same graph (and the same groups)
  index.add(BigUint64Array.from({ length: n }, (_, i) => BigInt(i)), matrix, 1);
  // each vector finds itself first; one more asked for, so k others remain. One thread here too:
  // usearch sizes its per-thread search state when vectors are added
  const found = index.search(matrix, width + 1, 1) as unknown as BatchMatches;
  for (let i = 0; i < n; i++) {
    let r = 0;
    const count = Number(found.counts[i]);
    for (let c = 0; c < count && r < width; c++) {
      const j = Number(found.keys[i * (width + 1) + c]);
      if (j === i) continue;
      graph.index[i * width + r] = j;
      // usearch's inner-product distance is 1 - dot
      graph.similarity[i * width + r] = 1 - found.distances[i * (width + 1) + c]!;
      r++;
    }
  }
  return graph;
}

/** The k nearest neighbours of every vector, exact or approximate (see the top of this file). */
export function nearestNeighbours(vectors: readonly Float32Array[], k: number, search: NeighbourSearch = 'auto'): NeighbourGraph {
  const exact = search === 'exact' || (search === 'auto' && vectors.length < EXACT_BELOW);
  return exact ? exactNeighbours(vectors, k) : approximateNeighbours(vectors, k);
}
