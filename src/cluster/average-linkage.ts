/**
 * Agglomerative clustering with average linkage (UPGMA), cut where the mean similarity between two
 * groups falls below `threshold`, found with the nearest-neighbour chain algorithm (Murtagh 1983).
 *
 * Why this and not a package: ml-hclust (the maintained npm one) rebuilds its n x n matrix after
 * every merge, O(n^3) time: days for 10^4 faces. The chain algorithm finds the same merges as the
 * greedy one (average linkage is reducible) in O(n^2) time and O(n^2 / 2) float32 memory: for
 * 10^4 unit vectors of 1024 values, about 5e10 multiply-adds for the similarities (the bulk, well
 * under a minute) and 200 MB. Average linkage and not single linkage: one look-alike pair does not
 * chain two people together; and not a density method (HDBSCAN): a person with two photos is a
 * group, not noise.
 */

/** Index into the strict upper triangle of an n x n symmetric matrix, i != j. */
function pairIndex(i: number, j: number, n: number): number {
  const [a, b] = i < j ? [i, j] : [j, i];
  return a * n - (a * (a + 1)) / 2 + (b - a - 1);
}

/** Cosine similarities of unit vectors, upper triangle only. */
export function similarityMatrix(vectors: readonly Float32Array[]): Float32Array {
  const n = vectors.length;
  const out = new Float32Array((n * (n - 1)) / 2);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const a = vectors[i]!;
    for (let j = i + 1; j < n; j++) {
      const b = vectors[j]!;
      // four partial sums: the loop is the O(n^2 d) bulk, and V8 does not vectorise it by itself
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
      out[k++] = s0 + s1 + s2 + s3;
    }
  }
  return out;
}

/**
 * Groups unit vectors: the returned arrays hold indices into `vectors`, every index exactly once,
 * largest group first (ties: the group with the smallest index first).
 */
export function averageLinkageClusters(vectors: readonly Float32Array[], threshold: number): number[][] {
  const n = vectors.length;
  if (n === 0) return [];
  // sim holds the current average similarity between active groups, indexed by a representative member
  const sim = similarityMatrix(vectors);
  const size = new Int32Array(n).fill(1);
  const members: number[][] = vectors.map((_, i) => [i]);
  // 0: merged away, 1: active, 2: final (its nearest neighbour is below the threshold)
  const state = new Uint8Array(n).fill(1);
  const nearest = (i: number): [number, number] => {
    let best = -1;
    let bestSim = -Infinity;
    for (let j = 0; j < n; j++) {
      if (j === i || state[j] !== 1) continue;
      const s = sim[pairIndex(i, j, n)]!;
      if (s > bestSim || (s === bestSim && j < best)) [best, bestSim] = [j, s];
    }
    return [best, bestSim];
  };
  const chain: number[] = [];
  let active = n;
  let next = 0;
  while (active > 1) {
    if (chain.length === 0) {
      while (state[next] !== 1) next++;
      chain.push(next);
    }
    const tip = chain[chain.length - 1]!;
    const [neighbour, similarity] = nearest(tip);
    if (neighbour < 0 || similarity < threshold) {
      // by reducibility no later merge can bring another group closer to it than this
      state[tip] = 2;
      active--;
      chain.pop();
      continue;
    }
    if (chain.length >= 2 && chain[chain.length - 2] === neighbour) {
      chain.length -= 2;
      // merge `neighbour` into `tip`: Lance-Williams update for average linkage
      for (let k = 0; k < n; k++) {
        if (state[k] === 0 || k === tip || k === neighbour) continue;
        const at = pairIndex(tip, k, n);
        sim[at] = (size[tip]! * sim[at]! + size[neighbour]! * sim[pairIndex(neighbour, k, n)]!) / (size[tip]! + size[neighbour]!);
      }
      size[tip]! += size[neighbour]!;
      members[tip]!.push(...members[neighbour]!);
      members[neighbour] = [];
      state[neighbour] = 0;
      active--;
    } else {
      chain.push(neighbour);
    }
  }
  return members
    .filter((m) => m.length > 0)
    .map((m) => m.sort((a, b) => a - b))
    .sort((a, b) => b.length - a.length || a[0]! - b[0]!);
}
