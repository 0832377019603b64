import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { exportModelDir } from '../src/api/export.js';
import { train } from '../src/api/train.js';
import { scanFilesDeep } from '../src/dataset/scan.js';
import { readTflite } from '../src/export/tflite-reader.js';
import { detectorFor, loadFaceAligner } from '../src/faces/cropper.js';
import { readImageBytes, type RgbImage } from '../src/image/decode.js';
import { readManifest } from '../src/model-dir/manifest.js';
import { facesAsSeen, loadRecognizer } from '../src/recognize/recognizer.js';
import { FIVE_CELEBRITIES, tempDir } from '../test/support/shared.js';
import { loadLiteRtInNode } from '../test/support/litert-shim.js';

type LiteRt = Awaited<ReturnType<typeof loadLiteRtInNode>>;

function argMax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Top-1 of a classifier .tflite (float, or uint8 I/O for int8) on each crop. */
async function tfliteTop1(litert: LiteRt, bytes: Uint8Array, crops: RgbImage[], mean: number, std: number): Promise<number[]> {
  const { inputs: [input] } = readTflite(bytes);
  const model = await litert.loadAndCompile(bytes, { accelerator: 'wasm' });
  const top1: number[] = [];
  for (const crop of crops) {
    const values = Float32Array.from(crop.data, (v) => (v - mean) / std);
    const fed = input!.type === 'UINT8' ? Uint8Array.from(values, (v) => Math.max(0, Math.min(255, Math.round(v / (input!.scale ?? 1) + (input!.zeroPoint ?? 0))))) : values;
    const tensor = new litert.Tensor(fed, input!.shape);
    const outputs = await model.run(tensor);
    top1.push(argMax(outputs[0]!.toTypedArray() as ArrayLike<number>));
    for (const out of outputs) out.delete();
    tensor.delete();
  }
  model.delete();
  return top1;
}

/**
 * Agreement of the exported TFLite files with `predict` on the faces of five-celebrities (train and
 * val, the largest face of each photo) for the default model: float32 (the pipeline: label with
 * the unknown decision), float16 and int8 (the classifier: top-1 person).
 */
export async function benchExport(): Promise<Record<string, unknown>> {
  const modelDir = path.join(await tempDir('bench-export'), 'm');
  await train({ dataDir: FIVE_CELEBRITIES, outDir: modelDir, seed: 1 });
  const outDir = path.join(modelDir, 'export');
  await exportModelDir(modelDir, ['tflite', 'tflite-fp16', 'tflite-int8'], { calibration: path.join(FIVE_CELEBRITIES, 'train') });
  const manifest = await readManifest(modelDir);
  const recognizer = await loadRecognizer(modelDir);
  const detector = await detectorFor(manifest.input);
  const aligner = detector && (await loadFaceAligner(manifest.input));
  const crops: RgbImage[] = [];
  const expected: { label: string; top1: number }[] = [];
  for (const file of await scanFilesDeep(FIVE_CELEBRITIES)) {
    const bytes = await readImageBytes(file);
    const [faces, located] = [await recognizer.predict(bytes), await facesAsSeen(bytes, manifest.input, detector, aligner)];
    if (faces.length === 0) continue;
    crops.push(located[0]!.crop);
    expected.push({ label: faces[0]!.label, top1: manifest.labels.indexOf(faces[0]!.topK[0]!.label) });
  }
  recognizer.dispose();
  detector?.dispose();
  aligner?.dispose();
  const litert = await loadLiteRtInNode();
  const { mean, std } = manifest.input;
  const share = (same: boolean[]) => Number((same.filter(Boolean).length / same.length).toFixed(4));

  const pipeline = await litert.loadAndCompile(new Uint8Array(await readFile(path.join(outDir, 'model.tflite'))), { accelerator: 'wasm' });
  const labels: string[] = [];
  for (const crop of crops) {
    const tensor = new litert.Tensor(Float32Array.from(crop.data, (v) => (v - mean) / std), [1, crop.height, crop.width, 3]);
    const outputs = await pipeline.run(tensor);
    const probabilities = outputs[1]!.toTypedArray() as Float32Array;
    const score = (outputs[3]!.toTypedArray() as Float32Array)[0]!;
    labels.push(score >= manifest.threshold ? manifest.labels[argMax(probabilities)]! : 'unknown');
    for (const out of outputs) out.delete();
    tensor.delete();
  }
  pipeline.delete();
  const fp16 = await tfliteTop1(litert, new Uint8Array(await readFile(path.join(outDir, 'model-fp16.tflite'))), crops, mean, std);
  const int8 = await tfliteTop1(litert, new Uint8Array(await readFile(path.join(outDir, 'model-int8.tflite'))), crops, mean, std);
  return {
    faces: crops.length,
    float32PipelineLabelAgreement: share(labels.map((l, i) => l === expected[i]!.label)),
    float16Top1Agreement: share(fp16.map((t, i) => t === expected[i]!.top1)),
    int8Top1Agreement: share(int8.map((t, i) => t === expected[i]!.top1)),
  };
}
