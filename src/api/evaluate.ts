import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { checkRange, type NumberRange } from '../config.js';
import { scanPeople } from '../dataset/scan.js';
import { pathExists } from '../util/fs.js';
import { HISTORY_FILE } from '../model-dir/manifest.js';
import type { SkippedPhoto } from '../events.js';
import type { Recognizer } from '../recognize/recognizer.js';
import type { RuntimeName } from '../runtime/runtime.js';
import { evaluate } from '../evaluate/metrics.js';
import { renderReport } from '../evaluate/report.js';
import { attachThumbnails, predictSamples, type LabelledPhoto } from './evaluate-run.js';
import type { EvalReport, EvalSample, TrainHistory } from '../evaluate/types.js';

/** What `eval` can be told besides the model and the photos (the CLI has one flag per field). */
export interface EvaluateSettings {
  /** Score under which a face is unknown; default the model's calibrated threshold. */
  threshold?: number;
  /** Runtime of the recognizer's networks. */
  engine?: RuntimeName;
  /** Also write a self-contained HTML report to this file. */
  report?: string;
  /** Name faces by their nearest templates in this gallery instead of the model's head. */
  gallery?: string;
}

/** The range of each number of EvaluateSettings (a score is a cosine clamped to [0, 1] or a probability). */
export const EVALUATE_RANGES: Readonly<Partial<Record<keyof EvaluateSettings, NumberRange>>> = Object.freeze({ threshold: { min: 0, max: 1 } });

export interface FolderEvaluation {
  report: EvalReport;
  samples: EvalSample[];
  threshold: number;
  /** Photos that could not be read or recognized, with the reason; counted in `report.unreadable`. */
  skipped: SkippedPhoto[];
}

/** `dir/<person>/*` (or its `val/` when it has one); people the model does not know count as unknown. */
export async function labelledPhotos(dir: string, known: readonly string[]): Promise<LabelledPhoto[]> {
  const root = (await pathExists(path.join(dir, 'val'))) ? path.join(dir, 'val') : dir;
  const people = await scanPeople(root);
  return [...people].flatMap(([person, files]) => files.map((file) => ({ file, person: known.includes(person) ? person : null })));
}

export async function evaluateFolder(
  recognizer: Recognizer,
  dir: string,
  options: Pick<EvaluateSettings, 'threshold'> & { onProgress?: (done: number, total: number) => void; onSkip?: (skipped: SkippedPhoto) => void } = {},
): Promise<FolderEvaluation> {
  if (options.threshold !== undefined) checkRange('threshold', options.threshold, EVALUATE_RANGES.threshold!);
  const photos = await labelledPhotos(dir, recognizer.labels);
  const threshold = options.threshold ?? recognizer.manifest.threshold;
  const skipped: SkippedPhoto[] = [];
  const onSkip = (s: SkippedPhoto) => {
    skipped.push(s);
    options.onSkip?.(s);
  };
  const samples = await predictSamples(recognizer, photos, (done) => options.onProgress?.(done, photos.length), onSkip);
  await attachThumbnails(samples, threshold);
  return { report: { ...evaluate(samples, recognizer.labels, threshold), unreadable: skipped.length }, samples, threshold, skipped };
}

/** The HTML report for a model directory, with its training curves when history.json is there. */
export async function renderModelReport(modelDir: string, recognizer: Recognizer, evaluation: FolderEvaluation): Promise<string> {
  const historyFile = path.join(modelDir, HISTORY_FILE);
  const history = (await pathExists(historyFile)) ? (JSON.parse(await readFile(historyFile, 'utf8')) as TrainHistory) : undefined;
  const { manifest } = recognizer;
  return renderReport({
    report: evaluation.report,
    history,
    model: { labels: manifest.labels, base: manifest.base.name, threshold: evaluation.threshold, createdAt: manifest.createdAt, name: path.basename(path.resolve(modelDir)) },
    samples: evaluation.samples,
  });
}
