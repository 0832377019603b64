import { invalidOption } from '../errors.js';
import { cosine, l2Normalise } from '../util/vector.js';

/**
 * How sure we are that a face is one of the known people, from its embedding and the training
 * embeddings of each person: one number per face, the same rule in predict, eval and serve.
 */
export const UNKNOWN_RULES = Object.freeze(['nearest', 'centroid', 'margin', 'normalised'] as const);
export type UnknownRule = (typeof UNKNOWN_RULES)[number];

/** Chosen by `npm run accuracy` on the open-set protocols (see the README's accuracy section). */
export const DEFAULT_UNKNOWN_RULE: PersonRule = 'nearest';

/** The rules that score a face against one person alone (the others score it against the whole gallery). */
export type PersonRule = Exclude<UnknownRule, 'margin' | 'normalised'>;

/** The target false-accept rate of `train --target-far`. */
export const DEFAULT_TARGET_FAR = 0.01;

export interface PersonGallery {
  person: string;
  /** Unit-length training embeddings. */
  embeddings: Float32Array[];
}

export interface RuleScore {
  /** The best person by the rule. */
  person: string;
  score: number;
}

/** Per person: the highest cosine to any of its training photos, and to its mean embedding. */
function personSimilarities(embedding: Float32Array, gallery: readonly PersonGallery[], centroids: readonly Float32Array[]): { nearest: number; centroid: number }[] {
  return gallery.map((g, i) => ({ nearest: Math.max(...g.embeddings.map((e) => cosine(embedding, e))), centroid: cosine(embedding, centroids[i]!) }));
}

/** The rule's similarity of a face to one given person (no ranking against the others). */
export function personScore(embedding: Float32Array, gallery: PersonGallery, rule: PersonRule): number {
  if (gallery.embeddings.length === 0) return -1;
  return rule === 'centroid' ? cosine(embedding, centroidsOf([gallery])[0]!) : Math.max(...gallery.embeddings.map((e) => cosine(embedding, e)));
}

function zScore(best: number, others: number[]): number {
  if (others.length === 0) return best;
  const mean = others.reduce((a, b) => a + b, 0) / others.length;
  const spread = Math.sqrt(others.reduce((a, b) => a + (b - mean) ** 2, 0) / others.length);
  // one other person has no spread: its distance alone
  return (best - mean) / Math.max(spread, 0.05);
}

export function centroidsOf(gallery: readonly PersonGallery[]): Float32Array[] {
  return gallery.map((g) => {
    const sum = new Float32Array(g.embeddings[0]!.length);
    for (const e of g.embeddings) e.forEach((x, j) => (sum[j] += x));
    return l2Normalise(sum);
  });
}

/**
 * - nearest: cosine to the closest training photo of the best person;
 * - centroid: cosine to the best person's mean embedding;
 * - margin: nearest minus the runner-up person's nearest (how much the best stands out);
 * - normalised: nearest minus the mean of the other people's nearest, over their spread (a z-score
 *   against the gallery, so a face close to everyone scores low).
 */
export function scoreFace(embedding: Float32Array, gallery: readonly PersonGallery[], rule: UnknownRule, centroids = centroidsOf(gallery)): RuleScore {
  if (gallery.length === 0) throw invalidOption('known people', 'at least one known person', 0);
  const sims = personSimilarities(embedding, gallery, centroids);
  const key = rule === 'centroid' ? 'centroid' : 'nearest';
  const order = sims.map((s, i) => ({ i, s: s[key] })).sort((a, b) => b.s - a.s);
  const best = order[0]!;
  const score = rule === 'margin' ? best.s - (order[1]?.s ?? -1) : rule === 'normalised' ? zScore(best.s, order.slice(1).map((o) => o.s)) : best.s;
  return { person: gallery[best.i]!.person, score };
}

/**
 * Scores of simulated strangers: each known person in turn is left out of the gallery and each of
 * its training photos scored against the others. No real stranger is needed.
 */
export function leaveOnePersonOutScores(gallery: readonly PersonGallery[], rule: UnknownRule): number[] {
  if (gallery.length < 2) throw invalidOption('known people', 'at least two known people to simulate strangers', gallery.length);
  return gallery.flatMap((left, i) => {
    const others = gallery.filter((_, j) => j !== i);
    const centroids = centroidsOf(others);
    return left.embeddings.map((e) => scoreFace(e, others, rule, centroids).score);
  });
}

/**
 * The threshold (accept when score >= threshold) that lets through at most `targetFar` of the
 * simulated strangers, and never less than `floor` (the base's threshold calibrated on shared
 * data: a handful of people cannot show a 1 % tail on their own).
 */
export function strangerThreshold(strangerScores: readonly number[], targetFar: number, floor = -Infinity): number {
  if (!(targetFar > 0 && targetFar < 1)) throw invalidOption('targetFar', 'a fraction between 0 and 1, e.g. 0.01', targetFar);
  if (strangerScores.length === 0) return floor;
  const descending = [...strangerScores].sort((a, b) => b - a);
  const allowed = Math.floor(targetFar * descending.length + 1e-9);
  // just above the highest stranger score that must be rejected
  const threshold = allowed < descending.length ? descending[allowed]! + 1e-6 : -Infinity;
  return Math.max(threshold, floor);
}
