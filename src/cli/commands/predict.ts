import type { CAC } from 'cac';
import { readImageBytes } from '../../image/decode.js';
import { openGallerySession, recognizeWithGallery } from '../../api/gallery.js';
import type { EvaluateSettings } from '../../api/evaluate.js';
import { loadRecognizer, PREDICT_DEFAULTS, PREDICT_RANGES, type FaceResult, type PredictOptions } from '../../recognize/recognizer.js';
import { FacetrainError } from '../../errors.js';
import { mapInOrder, throughput } from '../../util/pipeline.js';
import { addFlags, ENGINE_FLAG, optionsFromFlags, type FlagTable } from '../flag-table.js';
import { cliMessage, type OutputFlags } from '../options.js';
import { photoFiles } from '../photo-args.js';

type PredictSettings = Pick<PredictOptions, 'topK' | 'threshold'> & Pick<EvaluateSettings, 'engine' | 'gallery'>;

/** predict's flags (ranges: PREDICT_RANGES). */
const PREDICT_FLAGS: FlagTable<PredictSettings> = {
  topK: { kind: 'number', value: 'k', help: 'How many candidates to list per face' },
  threshold: { kind: 'number', value: 't', help: "Score under which a face is unknown (default: the calibrated one in facetrain.json; with --gallery, the base's gallery threshold)" },
  engine: ENGINE_FLAG,
  gallery: { kind: 'string', value: 'url', help: "Name faces by their nearest templates in this gallery instead of the model's head" },
};

/**
 * One line per face. `confidence` is the score the threshold applies to (what decides `unknown`);
 * the classifier's probabilities that follow only rank the candidates, so they are named apart.
 */
function formatFaces(file: string, faces: FaceResult[], threshold: number): string {
  if (faces.length === 0) return `${file}: no face found`;
  return faces
    .map((f) => {
      const where = faces.length > 1 ? ` [${Math.round(f.box.x)},${Math.round(f.box.y)} ${Math.round(f.box.width)}x${Math.round(f.box.height)}]` : '';
      const ranking = f.topK.map((c) => `${c.label} ${c.score.toFixed(3)}`).join(', ');
      return `${file}${where}: ${f.label} (confidence ${f.score.toFixed(3)} ${f.score >= threshold ? '>=' : '<'} threshold ${threshold.toFixed(3)}; classifier probabilities ${ranking})`;
    })
    .join('\n');
}

export function registerPredict(cli: CAC): void {
  addFlags(cli.command('predict <model-dir> <image-or-folder>', 'Name the people in a photo, or in every photo of a folder and its sub-folders'), PREDICT_FLAGS, PREDICT_DEFAULTS, PREDICT_RANGES)
    .option('--json', 'One JSON object per image on stdout')
    .action(async (modelDir: string, target: string, flags: Record<string, unknown> & OutputFlags) => {
      const { topK, threshold, engine, gallery } = optionsFromFlags(flags, PREDICT_FLAGS, PREDICT_DEFAULTS, PREDICT_RANGES);
      const session = gallery ? await openGallerySession(gallery, { modelDir, engine }) : undefined;
      const recognizer = session ? undefined : await loadRecognizer(modelDir, { engine });
      const predict = (bytes: Uint8Array, options: PredictOptions & { label: string }): Promise<FaceResult[]> =>
        session ? recognizeWithGallery(session.store, session.faces, bytes, options.label, options) : recognizer!.predict(bytes, options);
      let failures = 0;
      const files = await photoFiles([target]);
      const started = performance.now();
      const tty = process.stderr.isTTY && !flags.json && files.length > 1;
      // Two photos in flight: one decoding (sharp's threads) while the other is in onnxruntime.
      await mapInOrder(files, 2, (file) => readImageBytes(file).then((bytes) => predict(bytes, { topK, threshold, label: file })).catch((err: unknown) => err as Error), (result, i) => {
        const file = files[i]!;
        if (tty) process.stderr.write('\r\x1b[K');
        if (result instanceof Error) {
          if (!(result instanceof FacetrainError)) throw result;
          failures++;
          // the other photos go on; the failure is an error line on stderr (and a JSON record for --json readers)
          const message = result.message.includes(file) ? cliMessage(result) : `${file}: ${cliMessage(result)}`;
          process.stderr.write(`error: ${message}\n`);
          if (flags.json) console.log(JSON.stringify({ file, error: { code: result.code, message } }));
        } else {
          console.log(flags.json ? JSON.stringify({ file, faces: result }) : formatFaces(file, result as FaceResult[], threshold ?? recognizer?.manifest.threshold ?? session!.faces.matchThreshold));
        }
        if (tty) process.stderr.write(throughput(i + 1, files.length, started));
      });
      if (tty) process.stderr.write('\r\x1b[K');
      recognizer?.dispose();
      await session?.close();
      if (failures > 0) process.exitCode = 4;
    });
}
