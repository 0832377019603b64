import { errorFunction } from 'simple-statistics';

/**
 * Different-person similarities of an embedding (LFW): their mean and standard deviation. Their
 * upper tail is close to normal (MobileFaceNet: 0.12 % at or above its 0.1 % threshold), the model
 * `unknownFloor` rests on too.
 */
export interface StrangerSimilarity {
  mean: number;
  sd: number;
}

/**
 * Faces up to which a base's verification thresholds are used as they are. They are rates per pair,
 * but each face of a dump is compared with all the others: at MobileFaceNet's link similarity
 * (0.1 % per pair) a face of 500 meets half a stranger at or above it, one of 1,200 faces 1.2, and
 * mixes of the shared sets of 750 to 1,200 faces fell under BCubed precision 0.95 with fixed
 * thresholds while the 520-face mix met it (README, "From a photo dump").
 */
export const REFERENCE_FACES = 500;

/** Share of strangers' similarities at or above `similarity`, in the normal model. */
function strangerRate(similarity: number, strangers: StrangerSimilarity): number {
  return (1 - errorFunction((similarity - strangers.mean) / (strangers.sd * Math.SQRT2))) / 2;
}

/** The similarity strangers reach with `rate`: strangerRate's inverse, by bisection (it falls monotonically). */
function similarityAtRate(rate: number, strangers: StrangerSimilarity): number {
  let low = strangers.mean;
  let high = strangers.mean + 40 * strangers.sd;
  for (let i = 0; i < 60; i++) {
    const mid = (low + high) / 2;
    if (strangerRate(mid, strangers) > rate) low = mid;
    else high = mid;
  }
  return (low + high) / 2;
}

/**
 * A per-pair threshold for grouping `faces` faces: up to REFERENCE_FACES the base's own; above, the
 * one whose stranger rate is the base's divided by faces / REFERENCE_FACES, so that a face meets as
 * many strangers at or above it as in a dump of the reference size (the multiple-comparison view
 * `unknownFloor` takes for a gallery). Without stranger figures for the base, its own.
 */
export function thresholdForFaces(similarity: number, faces: number, strangers: StrangerSimilarity | undefined): number {
  if (!strangers || faces <= REFERENCE_FACES) return similarity;
  return similarityAtRate((strangerRate(similarity, strangers) * REFERENCE_FACES) / faces, strangers);
}
