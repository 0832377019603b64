import { UNKNOWN_LABEL } from '../evaluate/types.js';
import type { Neighbour } from './store.js';

export interface GalleryMatch {
  /** The nearest template's person, or `unknown` under the threshold (or with an empty gallery). */
  label: string;
  /** Similarity to the nearest template. */
  score: number;
  /** Best similarity per person, best first. */
  candidates: { label: string; score: number }[];
}

/**
 * The whole recognition rule over a gallery, in one place so a calibrated rule can replace it:
 * nearest template names the face, its similarity is the score, under `threshold` it is unknown.
 */
export function matchNeighbours(neighbours: Neighbour[], threshold: number, topK: number): GalleryMatch {
  const best = new Map<string, number>();
  for (const n of neighbours) if (!best.has(n.person)) best.set(n.person, n.similarity);
  const candidates = [...best].map(([label, score]) => ({ label, score })).slice(0, Math.max(1, topK));
  const top = candidates[0];
  if (!top) return { label: UNKNOWN_LABEL, score: 0, candidates: [] };
  return { label: top.score >= threshold ? top.label : UNKNOWN_LABEL, score: top.score, candidates };
}
