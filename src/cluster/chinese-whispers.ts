import { createRandom } from '../util/random.js';

/** An undirected weighted graph as adjacency lists: `edges[i]` holds [neighbour, weight] pairs, each edge listed at both ends. */
export type WeightedGraph = readonly (readonly (readonly [number, number])[])[];

/**
 * Chinese whispers (Biemann 2006), the graph clustering dlib uses for faces: every node starts in
 * its own class, then, in a random order each round, takes the class with the largest total edge
 * weight among its neighbours, until a round changes nothing (or `maxRounds`). Each round costs
 * O(edges); it needs no number of groups and keeps a node without edges alone. The order comes
 * from `seed`, so the same graph gives the same classes.
 * Returns the class of each node (a node index, the class's first member after renumbering).
 */
export function chineseWhispers(edges: WeightedGraph, seed: number, maxRounds = 50): Int32Array {
  const n = edges.length;
  const label = Int32Array.from({ length: n }, (_, i) => i);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const random = createRandom(seed);
  const weightOf = new Map<number, number>();
  for (let round = 0; round < maxRounds; round++) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let changed = false;
    for (const node of order) {
      if (edges[node]!.length === 0) continue;
      weightOf.clear();
      for (const [other, weight] of edges[node]!) weightOf.set(label[other]!, (weightOf.get(label[other]!) ?? 0) + weight);
      let best = label[node]!;
      let bestWeight = -Infinity;
      for (const [candidate, weight] of weightOf) {
        if (weight > bestWeight || (weight === bestWeight && candidate < best)) [best, bestWeight] = [candidate, weight];
      }
      if (best !== label[node]) {
        label[node] = best;
        changed = true;
      }
    }
    if (!changed) break;
  }
  return label;
}
