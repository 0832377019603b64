import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { exportModelDir } from '../src/api/export.js';
import { train } from '../src/api/train.js';
import { TRAIN_DEFAULTS } from '../src/base/index.js';
import { readManifest } from '../src/model-dir/manifest.js';
import { FIVE_CELEBRITIES, tempDir } from '../test/support/shared.js';
import { loadLiteRtInNode } from '../test/support/litert-shim.js';
import { agreement, consumerAgreement, liteRtWholePipeline, mixedPhotos, predictAll, predictedFaces, tfliteAnswers } from '../test/support/export-agreement.js';

/** The pipeline's TFLite files, by format, and the key pipeline.json lists each under. */
const TFLITE_FILES = Object.freeze({ 'tflite (float32)': { file: 'model.tflite', key: 'tflite' }, 'tflite-fp16': { file: 'model-fp16.tflite', key: 'tflite-fp16' }, 'tflite-int8': { file: 'model-int8.tflite', key: 'tflite-int8' } });

/**
 * Agreement of the exported pipeline recognizers with `predict` on the export-consumers photo set
 * (five-celebrities val, bbt strangers, bbt scenes), on the crops predict makes, run in LiteRT.js:
 * per format, the faces with predict's label (unknown included) and the largest score difference,
 * for a model on each embedding base (int8 calibrated on five-celebrities train); and
 * `wholePipeline`: the same labels from the .tflite files alone (detector.tflite, landmarks.tflite,
 * the recognizer) run by the Node consumer's steps, its own detection and alignment. Agreement,
 * not speed: the machine's load does not change it.
 */
export async function benchExport(): Promise<Record<string, unknown>> {
  const litert = await loadLiteRtInNode();
  const photos = await mixedPhotos();
  const result: Record<string, unknown> = { photos: photos.length };
  for (const base of [TRAIN_DEFAULTS.base, TRAIN_DEFAULTS.base === 'faceres' ? 'mobilefacenet' : 'faceres'] as const) {
    const modelDir = path.join(await tempDir(`bench-export-${base}`), 'm');
    await train({ dataDir: FIVE_CELEBRITIES, outDir: modelDir, seed: 1, base });
    const outDir = path.join(modelDir, 'export');
    await exportModelDir(modelDir, ['tflite', 'tflite-fp16', 'tflite-int8'], { calibration: path.join(FIVE_CELEBRITIES, 'train') });
    const manifest = await readManifest(modelDir);
    const faces = await predictedFaces(modelDir, photos);
    const expected = await predictAll(modelDir, photos);
    const decision = { threshold: manifest.threshold, labels: manifest.labels, mean: manifest.input.mean, std: manifest.input.std };
    const formats: Record<string, unknown> = {};
    for (const [format, { file, key }] of Object.entries(TFLITE_FILES)) {
      const bytes = new Uint8Array(await readFile(path.join(outDir, file)));
      const { sameLabel, maxScoreDifference, disagreements } = agreement(faces, await tfliteAnswers(litert, bytes, faces, decision));
      const whole = consumerAgreement(expected, await liteRtWholePipeline(outDir, key, photos));
      formats[format] = {
        sameLabel: `${sameLabel}/${faces.length}`,
        maxScoreDifference: Number(maxScoreDifference.toExponential(2)),
        bytes: bytes.length,
        disagreements,
        wholePipeline: { sameLabel: `${whole.faces - whole.disagreements.length}/${whole.faces}`, disagreements: whole.disagreements },
      };
    }
    result[base] = { faces: faces.length, unknownToPredict: faces.filter((f) => f.label === 'unknown').length, threshold: manifest.threshold, formats };
  }
  return result;
}
