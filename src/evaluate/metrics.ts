/**
 * Evaluation metrics over a recognizer's predictions. Everything here is pure: samples in, numbers out.
 *
 * Definitions (shared by the terminal table and the HTML report):
 * - Samples with `faceFound: false` are only counted (`facesNotFound`); they enter no other figure,
 *   because the recognizer never saw a face to name.
 * - The decision for a sample is its `predicted` label when `score >= threshold`, else `unknown`
 *   (a recognizer that already answered `unknown` stays `unknown`). The confusion matrix,
 *   per-person precision/recall/F1 and the open-set rates use this decision.
 * - Top-1 accuracy is closed-set: `predicted === truth` on known people, whatever the score.
 * - ROC/AUROC treat `score` as a detector of "this is someone the model knows": positives are
 *   known people's samples, negatives unknown people's (the usual open-set AUROC, as in
 *   Neal et al. / Vaze et al.). Naming is not considered there; the correct-accept rate covers it.
 *   Tied scores count half, i.e. AUROC equals the Mann-Whitney probability P(pos > neg) + P(pos = neg)/2.
 * - A zero denominator gives 0 for precision/recall/F1 (as scikit-learn's zero_division=0) and
 *   null for rates that would be meaningless (no known or no unknown people).
 */
import { FacetrainError, invalidOption } from '../errors.js';
import {
  UNKNOWN_LABEL,
  type ConfusionMatrix,
  type EvalReport,
  type EvalSample,
  type OpenSetMetrics,
  type PersonMetrics,
  type RocPoint,
  type TimingSummary,
} from './types.js';

export function evaluate(samples: readonly EvalSample[], labels: readonly string[], threshold: number): EvalReport {
  assertLabels(labels);
  assertThreshold(threshold);
  samples.forEach((s) => assertSample(s, labels));
  const withFace = samples.filter((s) => s.faceFound);
  const known = withFace.filter((s) => s.truth !== null);
  const unknown = withFace.filter((s) => s.truth === null);
  const confusion = confusionMatrix(withFace, labels, threshold);
  const perPerson = perPersonMetrics(confusion);
  const roc = known.length > 0 && unknown.length > 0 ? rocCurve(known.map((s) => s.score), unknown.map((s) => s.score)) : null;
  return {
    labels: [...labels],
    totalSamples: samples.length,
    facesNotFound: samples.length - withFace.length,
    top1Accuracy: ratioOrNull(known.filter((s) => s.predicted === s.truth).length, known.length),
    perPerson,
    macroF1: perPerson.length === 0 ? 0 : mean(perPerson.map((p) => p.f1)),
    confusion,
    openSet: openSetMetrics(known, unknown, threshold),
    roc,
    auroc: roc === null ? null : areaUnderCurve(roc),
    timing: timingSummary(samples),
  };
}

/** What the recognizer answers at this threshold: a known label or `unknown`. */
export function decide(sample: Pick<EvalSample, 'predicted' | 'score'>, threshold: number): string {
  return sample.score >= threshold ? sample.predicted : UNKNOWN_LABEL;
}

function isAccepted(sample: EvalSample, threshold: number): boolean {
  return decide(sample, threshold) !== UNKNOWN_LABEL;
}

/** Rows: known labels, then `unknown` if any unknown person was evaluated. Columns: labels + `unknown`. */
export function confusionMatrix(samples: readonly EvalSample[], labels: readonly string[], threshold: number): ConfusionMatrix {
  const hasUnknownPeople = samples.some((s) => s.truth === null);
  const rows = hasUnknownPeople ? [...labels, UNKNOWN_LABEL] : [...labels];
  const columns = [...labels, UNKNOWN_LABEL];
  const counts = rows.map(() => columns.map(() => 0));
  for (const s of samples) {
    const row = rows.indexOf(s.truth ?? UNKNOWN_LABEL);
    const column = columns.indexOf(decide(s, threshold));
    counts[row]![column]! += 1;
  }
  return { rows, columns, counts };
}

/** Precision counts unknown people wrongly named as a false positive; recall counts rejections as misses. */
export function perPersonMetrics(confusion: ConfusionMatrix): PersonMetrics[] {
  const knownLabels = confusion.columns.filter((c) => c !== UNKNOWN_LABEL);
  return knownLabels.map((label) => {
    const r = confusion.rows.indexOf(label);
    const c = confusion.columns.indexOf(label);
    const truePositives = confusion.counts[r]![c]!;
    const support = sum(confusion.counts[r]!);
    const predictedAs = sum(confusion.counts.map((row) => row[c]!));
    const precision = ratioOrZero(truePositives, predictedAs);
    const recall = ratioOrZero(truePositives, support);
    return { label, precision, recall, f1: ratioOrZero(2 * precision * recall, precision + recall), support };
  });
}

function openSetMetrics(known: readonly EvalSample[], unknown: readonly EvalSample[], threshold: number): OpenSetMetrics {
  return {
    threshold,
    knownSamples: known.length,
    unknownSamples: unknown.length,
    correctAcceptRate: ratioOrNull(known.filter((s) => isAccepted(s, threshold) && s.predicted === s.truth).length, known.length),
    knownAcceptRate: ratioOrNull(known.filter((s) => isAccepted(s, threshold)).length, known.length),
    falseAcceptRate: ratioOrNull(unknown.filter((s) => isAccepted(s, threshold)).length, unknown.length),
  };
}

/**
 * ROC of "score >= t means known", one point per distinct score from high to low, starting at the
 * origin. Tied positive and negative scores move the curve diagonally, which is what makes the
 * trapezoid area count ties as half.
 */
export function rocCurve(positiveScores: readonly number[], negativeScores: readonly number[]): RocPoint[] {
  if (positiveScores.length === 0 || negativeScores.length === 0) {
    throw new RangeError('rocCurve needs at least one positive and one negative score');
  }
  const thresholds = [...new Set([...positiveScores, ...negativeScores])].sort((a, b) => b - a);
  const rateAtOrAbove = (scores: readonly number[], t: number) => scores.filter((s) => s >= t).length / scores.length;
  return [
    { threshold: null, falsePositiveRate: 0, truePositiveRate: 0 },
    ...thresholds.map((t) => ({
      threshold: t,
      falsePositiveRate: rateAtOrAbove(negativeScores, t),
      truePositiveRate: rateAtOrAbove(positiveScores, t),
    })),
  ];
}

/** Trapezoid area under ROC points ordered by rising false-positive rate. */
export function areaUnderCurve(points: readonly RocPoint[]): number {
  let area = 0;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    area += ((b.falsePositiveRate - a.falsePositiveRate) * (a.truePositiveRate + b.truePositiveRate)) / 2;
  }
  return area;
}

export function timingSummary(samples: readonly EvalSample[]): TimingSummary | null {
  const times = samples.flatMap((s) => (s.ms === undefined ? [] : [s.ms]));
  if (times.length === 0) return null;
  return { samples: times.length, meanMs: mean(times), medianMs: median(times) };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface ThresholdCalibration {
  threshold: number;
  /** Fraction of the given known scores at or above the threshold. */
  knownAcceptance: number;
  /** Fraction of the given unknown scores below the threshold; null without unknown scores. */
  unknownRejection: number | null;
}

/**
 * Picks the acceptance threshold (accept when score >= threshold) from validation scores.
 * `knownScores` should be the scores of known validation samples the model named correctly.
 * - Without unknown scores: the highest threshold that still accepts `targetKnownAcceptance` of them,
 *   i.e. reject as much as possible of what we cannot check while keeping the target.
 * - With unknown scores: among thresholds meeting that target, the one with the best balanced
 *   accuracy (known acceptance + unknown rejection) / 2; ties go to the higher threshold, the safer
 *   side against strangers. Only observed scores need trying: between two adjacent scores nothing changes.
 */
export function calibrateThreshold(
  knownScores: readonly number[],
  unknownScores: readonly number[] = [],
  { targetKnownAcceptance = 0.95 }: { targetKnownAcceptance?: number } = {},
): ThresholdCalibration {
  if (!(targetKnownAcceptance > 0 && targetKnownAcceptance <= 1)) {
    throw invalidOption('targetKnownAcceptance', 'a fraction in (0, 1]', targetKnownAcceptance);
  }
  if (knownScores.length === 0) {
    throw new FacetrainError('FT_ERR_DATASET', 'Cannot calibrate the threshold: no validation photo was named correctly; add validation photos or train longer');
  }
  const highestAllowed = highestThresholdKeeping(knownScores, targetKnownAcceptance);
  const calibrationAt = (threshold: number): ThresholdCalibration => ({
    threshold,
    knownAcceptance: fractionAtOrAbove(knownScores, threshold),
    unknownRejection: unknownScores.length === 0 ? null : 1 - fractionAtOrAbove(unknownScores, threshold),
  });
  if (unknownScores.length === 0) return calibrationAt(highestAllowed);
  const candidates = [...new Set([...knownScores, ...unknownScores])].filter((t) => t <= highestAllowed).sort((a, b) => b - a);
  const balancedAccuracy = (c: ThresholdCalibration) => (c.knownAcceptance + (c.unknownRejection ?? 0)) / 2;
  return candidates.map(calibrationAt).reduce((best, c) => (balancedAccuracy(c) > balancedAccuracy(best) ? c : best));
}

function highestThresholdKeeping(scores: readonly number[], fraction: number): number {
  const descending = [...scores].sort((a, b) => b - a);
  // The epsilon keeps 0.95 * 20 = 19.000000000000004 from demanding a 20th sample.
  const needed = Math.max(1, Math.ceil(fraction * descending.length - 1e-9));
  return descending[needed - 1]!;
}

function fractionAtOrAbove(scores: readonly number[], threshold: number): number {
  return scores.filter((s) => s >= threshold).length / scores.length;
}

function assertLabels(labels: readonly string[]): void {
  if (labels.length === 0) throw invalidOption('labels', 'at least one known label', '(none)');
  if (new Set(labels).size !== labels.length) throw invalidOption('labels', 'unique labels', labels.join(', '));
  if (labels.includes(UNKNOWN_LABEL)) {
    throw invalidOption('labels', `labels without the reserved name "${UNKNOWN_LABEL}"`, labels.join(', '));
  }
}

function assertThreshold(threshold: number): void {
  if (!(threshold >= 0 && threshold <= 1)) throw invalidOption('threshold', 'a number in [0, 1]', threshold);
}

function assertSample(sample: EvalSample, labels: readonly string[]): void {
  if (sample.truth !== null && !labels.includes(sample.truth)) {
    throw new FacetrainError(
      'FT_ERR_DATASET',
      `${sample.file}: person "${sample.truth}" is not one of the model's labels; evaluate unknown people with truth null`,
    );
  }
  if (sample.predicted !== UNKNOWN_LABEL && !labels.includes(sample.predicted)) {
    throw new FacetrainError('FT_ERR_MODEL', `${sample.file}: predicted label "${sample.predicted}" is not one of the model's labels; the model and its labels do not match`);
  }
  if (!(sample.score >= 0 && sample.score <= 1)) {
    throw new FacetrainError('FT_ERR_MODEL', `${sample.file}: score ${sample.score} is outside [0, 1]; the recognizer must report a confidence`);
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function mean(values: readonly number[]): number {
  return sum(values) / values.length;
}

function ratioOrZero(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator;
}

function ratioOrNull(numerator: number, denominator: number): number | null {
  return denominator === 0 ? null : numerator / denominator;
}
