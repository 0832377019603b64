import { invalidOption } from '../errors.js';
import { areaUnderCurve, rocCurve } from './metrics.js';

/** One 1:1 comparison: the similarity of two faces and whether they are the same person. */
export interface ScoredPair {
  similarity: number;
  same: boolean;
}

/** The threshold with the best accuracy on `pairs` (same when similarity >= threshold); ties go to the higher one. */
export function bestAccuracyThreshold(pairs: readonly ScoredPair[]): { threshold: number; accuracy: number } {
  if (pairs.length === 0) throw invalidOption('verification pairs', 'at least one pair', 0);
  // One sweep over similarities from high to low: lowering the threshold past a pair accepts it.
  const sorted = [...pairs].sort((a, b) => b.similarity - a.similarity);
  const negatives = pairs.filter((p) => !p.same).length;
  let correct = negatives; // threshold above everything: every different pair is right
  let best = { threshold: sorted[0]!.similarity + 1e-6, accuracy: correct / pairs.length };
  for (let i = 0; i < sorted.length; i++) {
    correct += sorted[i]!.same ? 1 : -1;
    const tiedWithNext = i + 1 < sorted.length && sorted[i + 1]!.similarity === sorted[i]!.similarity;
    if (!tiedWithNext && correct / pairs.length > best.accuracy) best = { threshold: sorted[i]!.similarity, accuracy: correct / pairs.length };
  }
  return best;
}

export function accuracyAt(pairs: readonly ScoredPair[], threshold: number): number {
  return pairs.filter((p) => (p.similarity >= threshold) === p.same).length / pairs.length;
}

/**
 * The LFW protocol: pairs cut into `folds` consecutive folds (same and different pairs each spread
 * evenly), the threshold chosen on the other folds and the accuracy measured on the held-out one.
 */
export function foldedAccuracy(same: readonly ScoredPair[], different: readonly ScoredPair[], folds = 10): { mean: number; std: number; perFold: number[]; thresholds: number[] } {
  const foldOf = (i: number, n: number): number => Math.floor((i * folds) / n);
  const tagged = [...same.map((p, i) => ({ p, fold: foldOf(i, same.length) })), ...different.map((p, i) => ({ p, fold: foldOf(i, different.length) }))];
  const perFold: number[] = [];
  const thresholds: number[] = [];
  for (let f = 0; f < folds; f++) {
    const { threshold } = bestAccuracyThreshold(tagged.filter((t) => t.fold !== f).map((t) => t.p));
    thresholds.push(threshold);
    perFold.push(accuracyAt(tagged.filter((t) => t.fold === f).map((t) => t.p), threshold));
  }
  const mean = perFold.reduce((a, b) => a + b, 0) / folds;
  const std = Math.sqrt(perFold.reduce((a, b) => a + (b - mean) ** 2, 0) / folds);
  return { mean, std, perFold, thresholds };
}

/**
 * True-accept rate at the lowest threshold whose false-accept rate stays <= `far`: the share of
 * same-person pairs scoring above the `far` quantile of different-person pairs.
 */
export function trueAcceptAt(pairs: readonly ScoredPair[], far: number): { trueAcceptRate: number; threshold: number } {
  const negatives = pairs.filter((p) => !p.same).map((p) => p.similarity).sort((a, b) => b - a);
  const positives = pairs.filter((p) => p.same).map((p) => p.similarity);
  const allowed = Math.floor(far * negatives.length + 1e-9);
  // accept strictly above the first rejected negative
  const threshold = allowed < negatives.length ? negatives[allowed]! : -Infinity;
  return { trueAcceptRate: positives.filter((s) => s > threshold).length / positives.length, threshold };
}

export function pairAuroc(pairs: readonly ScoredPair[]): number {
  return areaUnderCurve(rocCurve(pairs.filter((p) => p.same).map((p) => p.similarity), pairs.filter((p) => !p.same).map((p) => p.similarity)));
}
