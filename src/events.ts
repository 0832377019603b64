import type { EvalReport } from './evaluate/types.js';

/** Everything long-running work reports, for the terminal, `--json` lines and the server alike. */
export type TrainEvent =
  | { type: 'dataset'; people: { name: string; train: number; val: number }[]; skipped: SkippedPhoto[]; explicitSplit: boolean }
  | { type: 'skip'; file: string; reason: string }
  /** A dataset mistake that does not stop training (a photo under two people, a person with one photo). */
  | { type: 'warning'; message: string }
  /** A training photo with several faces: the largest was used. */
  | { type: 'faces'; file: string; count: number }
  | { type: 'progress'; stage: 'prepare' | 'features'; done: number; total: number }
  | { type: 'batch'; phase: string; epoch: number; epochs: number; batch: number; batches: number; loss: number }
  | { type: 'epoch'; phase: string; epoch: number; epochs: number; loss: number; accuracy: number; valLoss?: number; valAccuracy?: number; ms: number }
  | { type: 'evaluation'; report: EvalReport }
  | { type: 'exported'; format: string; file: string }
  | { type: 'saved'; outDir: string; valAccuracy?: number; ms: number };

export interface SkippedPhoto {
  file: string;
  reason: string;
}

export type EventSink = (event: TrainEvent) => void;
