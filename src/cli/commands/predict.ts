import type { CAC } from 'cac';
import { stat } from 'node:fs/promises';
import { scanFiles } from '../../dataset/scan.js';
import { readImageBytes } from '../../image/decode.js';
import { loadRecognizer, type FaceResult } from '../../recognize/recognizer.js';
import { FacetrainError } from '../../errors.js';
import { mapInOrder, throughput } from '../../util/pipeline.js';
import { engineOption, numberOption, type OutputFlags } from '../options.js';

function formatFaces(file: string, faces: FaceResult[]): string {
  if (faces.length === 0) return `${file}: no face found`;
  return faces
    .map((f) => `${file}${faces.length > 1 ? ` [${Math.round(f.box.x)},${Math.round(f.box.y)} ${Math.round(f.box.width)}x${Math.round(f.box.height)}]` : ''}: ${f.label} (score ${f.score.toFixed(3)}; candidates ${f.topK.map((c) => `${c.label} ${c.score.toFixed(3)}`).join(', ')})`)
    .join('\n');
}

async function imagesIn(target: string): Promise<string[]> {
  const info = await stat(target).catch(() => {
    throw new FacetrainError('FT_ERR_IMAGE', `${target}: no such file or folder; pass an image or a folder of images`);
  });
  return info.isDirectory() ? scanFiles(target) : [target];
}

export function registerPredict(cli: CAC): void {
  cli
    .command('predict <model-dir> <image-or-folder>', 'Name the people in a photo, or in every photo of a folder')
    .option('--top-k <k>', 'How many candidates to list per face', { default: 3 })
    .option('--threshold <t>', 'Score under which a face is unknown (default: the calibrated one in facetrain.json)')
    .option('--engine <name>', 'onnx (onnxruntime-node, default when installed) or tfjs')
    .option('--json', 'One JSON object per image on stdout')
    .action(async (modelDir: string, target: string, flags: { topK: unknown; threshold?: unknown; engine?: unknown } & OutputFlags) => {
      const topK = numberOption('--top-k', flags.topK);
      const threshold = flags.threshold === undefined ? undefined : numberOption('--threshold', flags.threshold);
      const recognizer = await loadRecognizer(modelDir, { engine: engineOption(flags.engine) });
      let failures = 0;
      const files = await imagesIn(target);
      const started = performance.now();
      const tty = process.stderr.isTTY && !flags.json && files.length > 1;
      // Two photos in flight: one decoding (sharp's threads) while the other is in onnxruntime.
      await mapInOrder(files, 2, (file) => readImageBytes(file).then((bytes) => recognizer.predict(bytes, { topK, threshold, label: file })).catch((err: unknown) => err as Error), (result, i) => {
        const file = files[i]!;
        if (tty) process.stderr.write('\r\x1b[K');
        if (result instanceof Error) {
          if (!(result instanceof FacetrainError)) throw result;
          failures++;
          console.log(flags.json ? JSON.stringify({ file, error: result.message }) : result.message);
        } else {
          console.log(flags.json ? JSON.stringify({ file, faces: result }) : formatFaces(file, result as FaceResult[]));
        }
        if (tty) process.stderr.write(throughput(i + 1, files.length, started));
      });
      if (tty) process.stderr.write('\r\x1b[K');
      recognizer.dispose();
      if (failures > 0) process.exitCode = 4;
    });
}
