import type { CAC } from 'cac';
import { evaluateFolder, renderModelReport } from '../../api/evaluate.js';
import { openGallerySession } from '../../api/gallery.js';
import { galleryRecognizer } from '../../api/gallery-model.js';
import { formatReport } from '../../evaluate/format.js';
import { loadRecognizer } from '../../recognize/recognizer.js';
import { writeFileAtomic } from '../../util/fs.js';
import { engineOption, numberOption, type OutputFlags } from '../options.js';

export function registerEval(cli: CAC): void {
  cli
    .command('eval <model-dir> <photos>', 'Measure a model on labelled photos (photos/<person>/*; unknown people count as unknowns)')
    .option('--threshold <t>', 'Score under which a face is unknown (default: the calibrated one)')
    .option('--report <file>', 'Also write a self-contained HTML report')
    .option('--engine <name>', 'onnx (onnxruntime-node, default when installed) or tfjs')
    .option('--gallery <url>', 'Name faces by their nearest templates in this gallery instead of the model\'s head (its people are the known ones)')
    .option('--json', 'Print the metrics and per-photo results as JSON')
    .action(async (modelDir: string, photos: string, flags: { threshold?: unknown; report?: string; engine?: unknown; gallery?: string } & OutputFlags) => {
      const threshold = flags.threshold === undefined ? undefined : numberOption('--threshold', flags.threshold);
      const engine = engineOption(flags.engine);
      const session = flags.gallery ? await openGallerySession(flags.gallery, { modelDir, engine }) : undefined;
      const recognizer = session ? await galleryRecognizer(session, modelDir) : await loadRecognizer(modelDir, { engine });
      const tty = process.stderr.isTTY === true && !flags.json;
      const evaluation = await evaluateFolder(recognizer, photos, {
        threshold,
        onProgress: (done, total) => tty && process.stderr.write(`\r\x1b[Kevaluating ${done}/${total}${done === total ? '\n' : ''}`),
        onSkip: (s) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}skipped ${s.file}: ${s.reason}\n`),
      });
      if (flags.report) await writeFileAtomic(flags.report, await renderModelReport(modelDir, recognizer, evaluation));
      const samples = evaluation.samples.map(({ thumbnail: _, ...rest }) => rest);
      console.log(flags.json ? JSON.stringify({ report: evaluation.report, samples, skipped: evaluation.skipped }) : formatReport(evaluation.report, { color: process.stdout.isTTY === true }));
      recognizer.dispose();
      await session?.close();
    });
}
