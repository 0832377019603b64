import { chineseWhispers, type WeightedGraph } from './chinese-whispers.js';
import { nearestNeighbours, type NeighbourSearch } from './nearest-neighbours.js';

/** The similarity rule of the grouping, from the verification thresholds of the embedding. */
export interface GroupingRule {
  /** Two faces are linked when their similarity reaches this (the base's 0.1 % false-accept threshold). */
  linkSimilarity: number;
  /** A face left in a group of fewer than `minPhotos` photos joins the large group of its closest neighbour at this similarity or more (the base's verify threshold). */
  joinSimilarity: number;
  /** Groups with fewer photos than this are small: their faces may join a large group, or end unsorted. */
  minPhotos: number;
  seed: number;
}

/** Neighbours each face is linked to at most: enough for Chinese whispers to see a person's other photos, few enough to keep the graph O(n). */
export const NEIGHBOURS = 10;

export interface FaceToGroup {
  embedding: Float32Array;
  /** Faces of one photo are different people: they are never linked nor joined. */
  photo: string;
}

function photoCount(members: readonly number[], faces: readonly FaceToGroup[]): number {
  return new Set(members.map((m) => faces[m]!.photo)).size;
}

/**
 * Two faces of one photo are never linked, but both can be linked to the same others (a person and
 * their portrait on the wall): the one with the most link weight into the group stays, each other
 * leaves as a group of its own (and may join a group of its own later).
 */
function onePerPhoto(group: number[], faces: readonly FaceToGroup[], edges: WeightedGraph, label: Int32Array): number[][] {
  const byPhoto = new Map<string, number[]>();
  for (const m of group) byPhoto.set(faces[m]!.photo, [...(byPhoto.get(faces[m]!.photo) ?? []), m]);
  if (byPhoto.size === group.length) return [group];
  const weightInGroup = (m: number) => edges[m]!.reduce((sum, [other, weight]) => sum + (label[other] === label[m] ? weight : 0), 0);
  const kept: number[] = [];
  const alone: number[][] = [];
  for (const members of byPhoto.values()) {
    const best = members.reduce((a, b) => (weightInGroup(b) > weightInGroup(a) ? b : a));
    kept.push(best);
    for (const m of members) if (m !== best) alone.push([m]);
  }
  return [kept, ...alone];
}

/**
 * Groups faces into people: the `NEIGHBOURS` nearest faces of each (exact, or from an HNSW index for
 * many faces: see nearestNeighbours and `search`),
 * links at `linkSimilarity` or more between faces of different photos, Chinese whispers on the
 * links weighted by similarity, then a second pass in which each face of a small group joins the
 * large group holding its most similar neighbour when that reaches `joinSimilarity` (a person's
 * odd photo: a profile, another decade). O(n^2 d) for exact neighbours, O(n log n) expected for
 * approximate ones, O(n k) for the rest.
 * Returns arrays of indices into `faces`, every index once, largest group (by photos) first.
 */
export function groupFaces(faces: readonly FaceToGroup[], rule: GroupingRule, search: NeighbourSearch = 'auto'): number[][] {
  const n = faces.length;
  const graph = nearestNeighbours(faces.map((f) => f.embedding), NEIGHBOURS, search);
  const linked = (i: number, r: number) => {
    const j = graph.index[i * graph.k + r]!;
    return j >= 0 && graph.similarity[i * graph.k + r]! >= rule.linkSimilarity && faces[j]!.photo !== faces[i]!.photo;
  };
  const edges: [number, number][][] = Array.from({ length: n }, () => []);
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < graph.k; r++) {
      if (!linked(i, r)) continue;
      const j = graph.index[i * graph.k + r]!;
      // each edge once, at both ends, though it may be in both faces' neighbour lists
      const key = Math.min(i, j) * n + Math.max(i, j);
      if (seen.has(key)) continue;
      seen.add(key);
      const s = graph.similarity[i * graph.k + r]!;
      edges[i]!.push([j, s]);
      edges[j]!.push([i, s]);
    }
  }
  const label = chineseWhispers(edges, rule.seed);
  const byLabel = new Map<number, number[]>();
  label.forEach((l, i) => byLabel.set(l, [...(byLabel.get(l) ?? []), i]));
  const groups = [...byLabel.values()].flatMap((g) => onePerPhoto(g, faces, edges, label));
  const large = new Set(groups.filter((g) => photoCount(g, faces) >= rule.minPhotos));
  const groupOf = new Int32Array(n);
  groups.forEach((g, gi) => g.forEach((m) => (groupOf[m] = gi)));
  const joined = groups.map((g) => [...g]);
  for (const [gi, members] of groups.entries()) {
    if (large.has(members)) continue;
    for (const face of members) {
      // neighbours are sorted best first: the first one in a large group is the closest there
      for (let r = 0; r < graph.k; r++) {
        const j = graph.index[face * graph.k + r]!;
        if (j < 0 || graph.similarity[face * graph.k + r]! < rule.joinSimilarity) break;
        const target = groups[groupOf[j]!]!;
        if (!large.has(target)) continue;
        if (!joined[groupOf[j]!]!.some((m) => faces[m]!.photo === faces[face]!.photo)) {
          joined[groupOf[j]!]!.push(face);
          joined[gi] = joined[gi]!.filter((m) => m !== face);
        }
        break;
      }
    }
  }
  return joined
    .filter((g) => g.length > 0)
    .map((g) => g.sort((a, b) => a - b))
    .sort((a, b) => photoCount(b, faces) - photoCount(a, faces) || b.length - a.length || a[0]! - b[0]!);
}
