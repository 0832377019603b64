/** The label a recognizer gives, and the confusion-matrix row/column used, for a person it does not know. */
export const UNKNOWN_LABEL = 'unknown';

/** One evaluated photo: what the recognizer said about it and who it really shows. */
export interface EvalSample {
  file: string;
  /** The person in the photo, or null for a person the model was not trained on. */
  truth: string | null;
  /** The recognizer's top known label, or `unknown` if it refused to name anyone (e.g. no face). */
  predicted: string;
  /** The recognizer's confidence for its top known label, in [0,1]; compared against the threshold. */
  score: number;
  topK?: { label: string; score: number }[];
  faceFound: boolean;
  ms?: number;
  /** data: URL of a small JPEG of the face crop, shown in the report's galleries. */
  thumbnail?: string;
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
}

export interface TrainHistory {
  phases: { name: string; epochs: EpochRecord[] }[];
}

export interface PersonMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  /** Samples of this person with a detected face. */
  support: number;
}

/** counts[r][c]: samples whose true row label is rows[r] and whose decision is columns[c]. */
export interface ConfusionMatrix {
  rows: string[];
  columns: string[];
  counts: number[][];
}

export interface RocPoint {
  /** Scores >= threshold count as "known"; null for the curve's origin, above every score. */
  threshold: number | null;
  falsePositiveRate: number;
  truePositiveRate: number;
}

/** Rates at the operating threshold; null where there were no samples to divide by. */
export interface OpenSetMetrics {
  threshold: number;
  knownSamples: number;
  unknownSamples: number;
  /** Known people named correctly with score >= threshold. */
  correctAcceptRate: number | null;
  /** Known people accepted (score >= threshold) whatever name they got: the ROC point at the threshold. */
  knownAcceptRate: number | null;
  /** Unknown people given a name (score >= threshold). */
  falseAcceptRate: number | null;
}

export interface TimingSummary {
  samples: number;
  meanMs: number;
  medianMs: number;
}

export interface EvalReport {
  labels: string[];
  /** Samples evaluated, including those where no face was found. */
  totalSamples: number;
  facesNotFound: number;
  /** Photos of the folder that could not be read or recognized (not in `totalSamples`); set by folder evaluations. */
  unreadable?: number;
  /** Closed-set top-1 accuracy on known people with a face (threshold ignored); null when there are none. */
  top1Accuracy: number | null;
  perPerson: PersonMetrics[];
  macroF1: number;
  confusion: ConfusionMatrix;
  openSet: OpenSetMetrics;
  /** Score as a known-vs-unknown detector; null unless both known and unknown people were evaluated. */
  roc: RocPoint[] | null;
  auroc: number | null;
  timing: TimingSummary | null;
}
