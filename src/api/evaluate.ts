import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { scanPeople } from '../dataset/scan.js';
import { pathExists } from '../util/fs.js';
import { HISTORY_FILE } from '../model-dir/manifest.js';
import type { Recognizer } from '../recognize/recognizer.js';
import { evaluate } from '../evaluate/metrics.js';
import { renderReport } from '../evaluate/report.js';
import { attachThumbnails, predictSamples, type LabelledPhoto } from './evaluate-run.js';
import type { EvalReport, EvalSample, TrainHistory } from '../evaluate/types.js';

export interface FolderEvaluation {
  report: EvalReport;
  samples: EvalSample[];
  threshold: number;
}

/** `dir/<person>/*` (or its `val/` when it has one); people the model does not know count as unknown. */
export async function labelledPhotos(dir: string, known: readonly string[]): Promise<LabelledPhoto[]> {
  const root = (await pathExists(path.join(dir, 'val'))) ? path.join(dir, 'val') : dir;
  const people = await scanPeople(root);
  return [...people].flatMap(([person, files]) => files.map((file) => ({ file, person: known.includes(person) ? person : null })));
}

export async function evaluateFolder(recognizer: Recognizer, dir: string, options: { threshold?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<FolderEvaluation> {
  const photos = await labelledPhotos(dir, recognizer.labels);
  const threshold = options.threshold ?? recognizer.manifest.threshold;
  const samples = await predictSamples(recognizer, photos, (done) => options.onProgress?.(done, photos.length));
  await attachThumbnails(samples, threshold);
  return { report: evaluate(samples, recognizer.labels, threshold), samples, threshold };
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
