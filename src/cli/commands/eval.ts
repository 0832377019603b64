import type { CAC } from 'cac';
import { EVALUATE_RANGES, evaluateFolder, renderModelReport, type EvaluateSettings } from '../../api/evaluate.js';
import { openGallerySession } from '../../api/gallery.js';
import { galleryRecognizer } from '../../api/gallery-model.js';
import { formatReport } from '../../evaluate/format.js';
import { loadRecognizer } from '../../recognize/recognizer.js';
import { writeFileAtomic } from '../../util/fs.js';
import { addFlags, ENGINE_FLAG, optionsFromFlags, type FlagTable } from '../flag-table.js';
import type { OutputFlags } from '../options.js';

/** eval's flags, one per EvaluateSettings field (ranges: EVALUATE_RANGES, checked here and by evaluateFolder). */
const EVAL_FLAGS: FlagTable<EvaluateSettings> = {
  threshold: { kind: 'number', value: 't', help: 'Score under which a face is unknown; default the calibrated one' },
  report: { kind: 'string', value: 'file', help: 'Also write a self-contained HTML report' },
  engine: ENGINE_FLAG,
  gallery: { kind: 'string', value: 'url', help: "Name faces by their nearest templates in this gallery instead of the model's head (its people are the known ones)" },
};

export function registerEval(cli: CAC): void {
  addFlags(cli.command('eval <model-dir> <photos>', 'Measure a model on labelled photos (photos/<person>/*; unknown people count as unknowns)'), EVAL_FLAGS, {}, EVALUATE_RANGES)
    .option('--json', 'Print the metrics and per-photo results as JSON')
    .action(async (modelDir: string, photos: string, flags: Record<string, unknown> & OutputFlags) => {
      const { threshold, report, engine, gallery } = optionsFromFlags(flags, EVAL_FLAGS, {}, EVALUATE_RANGES);
      const session = gallery ? await openGallerySession(gallery, { modelDir, engine }) : undefined;
      const recognizer = session ? await galleryRecognizer(session, modelDir) : await loadRecognizer(modelDir, { engine });
      const tty = process.stderr.isTTY === true && !flags.json;
      const evaluation = await evaluateFolder(recognizer, photos, {
        threshold,
        onProgress: (done, total) => tty && process.stderr.write(`\r\x1b[Kevaluating ${done}/${total}${done === total ? '\n' : ''}`),
        onSkip: (s) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}skipped ${s.file}: ${s.reason}\n`),
      });
      if (report) await writeFileAtomic(report, await renderModelReport(modelDir, recognizer, evaluation));
      const samples = evaluation.samples.map(({ thumbnail: _, ...rest }) => rest);
      console.log(flags.json ? JSON.stringify({ report: evaluation.report, samples, skipped: evaluation.skipped }) : formatReport(evaluation.report, { color: process.stdout.isTTY === true }));
      recognizer.dispose();
      await session?.close();
    });
}
