import { chineseWhispers, type WeightedGraph } from './chinese-whispers.js';
import { dot, nearestNeighbours, type NeighbourGraph, type NeighbourSearch } from './nearest-neighbours.js';

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
 * A face is loosely tied to its group when its best similarity to another member is under this share
 * of the weakest best similarity among the other members: a tight group (near-identical photos of
 * one sitting) that took in a face only as close to it as strangers come. Chosen on the mixes of the
 * shared sets (README, "From a photo dump"): the two faces under it are at 0.50-0.51, the next at
 * 0.59; 0.6 already lowered BCubed precision on one of 30 runs.
 */
export const LOOSE_TIE = 0.55;

/** Face i's most similar neighbour in the group (of another photo, not `except`) and their similarity: its best tie there, graph rows being sorted best first. */
function bestTieInto(i: number, inGroup: (j: number) => boolean, except: number, faces: readonly FaceToGroup[], graph: NeighbourGraph): [number, number] | undefined {
  for (let r = 0; r < graph.k; r++) {
    const j = graph.index[i * graph.k + r]!;
    if (j >= 0 && j !== except && inGroup(j) && faces[j]!.photo !== faces[i]!.photo) return [j, graph.similarity[i * graph.k + r]!];
  }
  return undefined;
}

/**
 * Chinese whispers puts a face in the group with the most link weight, even when the group's
 * members resemble each other far more than they resemble it (a face linked just over the link
 * similarity to ten near-identical photos of a stranger). Each such loosely tied face (LOOSE_TIE)
 * of a large group moves to the large group of its most similar face elsewhere (every face
 * scanned: its own person may be beyond its nearest neighbours) when that reaches
 * `joinSimilarity`, as a small group's face joins, and that group has no face of its photo.
 * Ties come from the neighbour lists (a face without a group member among its neighbours is not
 * judged); all moves are decided on the groups as they were.
 */
function replaceLooseFaces(groups: number[][], faces: readonly FaceToGroup[], graph: NeighbourGraph, rule: GroupingRule): number[][] {
  const groupOf = new Int32Array(faces.length).fill(-1);
  const large = groups.map((g) => photoCount(g, faces) >= rule.minPhotos);
  groups.forEach((g, gi) => g.forEach((m) => (groupOf[m] = gi)));
  const moves: [number, number, number][] = [];
  for (const [gi, members] of groups.entries()) {
    if (!large[gi]) continue;
    const inGroup = (j: number) => groupOf[j] === gi;
    // each member's best tie, and its next best for when f is the one it ties to best
    const best = members.map((m) => bestTieInto(m, inGroup, -1, faces, graph));
    const second = members.map((m, i) => (best[i] ? bestTieInto(m, inGroup, best[i]![0], faces, graph) : undefined));
    const similarity = (tie: [number, number] | undefined) => tie?.[1] ?? -Infinity;
    const weakestFirst = members.map((_, mi) => mi).sort((a, b) => similarity(best[a]) - similarity(best[b]));
    const tiedBestTo = new Map<number, number[]>();
    best.forEach((tie, mi) => tie && tiedBestTo.set(tie[0], [...(tiedBestTo.get(tie[0]) ?? []), mi]));
    for (const [fi, f] of members.entries()) {
      const own = best[fi];
      if (!own) continue;
      // the others' weakest tie without f: the weakest member not tied best to f, and the next best of those that are
      const toF = tiedBestTo.get(f) ?? [];
      const other = weakestFirst.find((mi) => mi !== fi && !toF.includes(mi));
      const weakest = toF.reduce((w, mi) => (mi === fi ? w : Math.min(w, similarity(second[mi]))), other === undefined ? Infinity : similarity(best[other]));
      if (!(own[1] < LOOSE_TIE * weakest)) continue;
      let target = -1;
      let closest = rule.joinSimilarity;
      for (let j = 0; j < faces.length; j++) {
        const gj = groupOf[j]!;
        if (gj === gi || !large[gj]) continue;
        const s = dot(faces[f]!.embedding, faces[j]!.embedding);
        if (s >= closest && !groups[gj]!.some((m) => faces[m]!.photo === faces[f]!.photo)) [target, closest] = [gj, s];
      }
      if (target >= 0) moves.push([f, gi, target]);
    }
  }
  const placed = groups.map((g) => [...g]);
  for (const [f, from, to] of moves) {
    // two faces of one photo moving to one group: the first goes
    if (placed[to]!.some((m) => faces[m]!.photo === faces[f]!.photo)) continue;
    placed[from] = placed[from]!.filter((m) => m !== f);
    placed[to]!.push(f);
  }
  return placed;
}

/**
 * Groups faces into people: the `NEIGHBOURS` nearest faces of each (exact, or from an HNSW index for
 * many faces: see nearestNeighbours and `search`),
 * links at `linkSimilarity` or more between faces of different photos, Chinese whispers on the
 * links weighted by similarity, then a second pass in which each face of a small group joins the
 * large group holding its most similar neighbour when that reaches `joinSimilarity` (a person's
 * odd photo: a profile, another decade), and a last pass that re-places the faces a group's members
 * do not resemble (replaceLooseFaces). O(n^2 d) for exact neighbours, O(n log n) expected for
 * approximate ones, O(n k) for the rest (plus O(n d) for each re-placed face).
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
  return replaceLooseFaces(joined, faces, graph, rule)
    .filter((g) => g.length > 0)
    .map((g) => g.sort((a, b) => a - b))
    .sort((a, b) => photoCount(b, faces) - photoCount(a, faces) || b.length - a.length || a[0]! - b[0]!);
}
