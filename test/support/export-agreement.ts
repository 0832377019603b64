import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { detectorFor, loadFaceAligner } from '../../src/faces/cropper.js';
import { readImageBytes, type RgbImage } from '../../src/image/decode.js';
import { readManifest } from '../../src/model-dir/manifest.js';
import { facesAsSeen, type FaceResult, loadRecognizer } from '../../src/recognize/recognizer.js';
import { FIVE_CELEBRITIES, sharedPath } from './shared.js';
import { loadLiteRtInNode } from './litert-shim.js';

/**
 * How exported pipeline recognizers compare with `predict` on one photo set, face by face: the
 * export-consumers test asserts it, `npm run bench` (section export) reports it per format.
 */

type LiteRt = Awaited<ReturnType<typeof loadLiteRtInNode>>;

/** The visible entries of a folder, sorted, as paths. */
export async function filesIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => !f.startsWith('.')).sort().map((f) => path.join(dir, f));
}

/** Known people (five-celebrities val), strangers (two photos of each bbt person) and group scenes of strangers. */
export async function mixedPhotos(): Promise<string[]> {
  const known = (await Promise.all((await filesIn(path.join(FIVE_CELEBRITIES, 'val'))).map(filesIn))).flat();
  const strangers = (await Promise.all((await filesIn(sharedPath('datasets', 'bbt'))).map(async (d) => (await filesIn(d)).slice(0, 2)))).flat();
  const scenes = (await filesIn(sharedPath('datasets', 'bbt-scenes'))).filter((f) => /bbt\d\.jpg$/.test(f));
  return [...known, ...strangers, ...scenes];
}

/** One face as `predict` answers it, with the aligned crop it classified. */
export interface PredictedFace {
  name: string;
  crop: RgbImage;
  label: string;
  score: number;
}

/** Every face `predict` finds in `photos`, with its crop (the recognizer's input before normalisation). */
export async function predictedFaces(modelDir: string, photos: string[]): Promise<PredictedFace[]> {
  const manifest = await readManifest(modelDir);
  const recognizer = await loadRecognizer(modelDir);
  const detector = await detectorFor(manifest.input);
  const aligner = detector && (await loadFaceAligner(manifest.input));
  const faces: PredictedFace[] = [];
  try {
    for (const file of photos) {
      const bytes = await readImageBytes(file);
      const [expected, located] = [await recognizer.predict(bytes), await facesAsSeen(bytes, manifest.input, detector, aligner)];
      if (located.length !== expected.length) throw new Error(`${file}: predict found ${expected.length} faces, the crops ${located.length}`);
      located.forEach(({ crop }, i) => faces.push({ name: `${path.basename(file)} face ${i}`, crop, label: expected[i]!.label, score: expected[i]!.score }));
    }
  } finally {
    recognizer.dispose();
    detector?.dispose();
    aligner?.dispose();
  }
  return faces;
}

/** What the pipeline.json of an export says about the decision and the input. */
export interface Decision {
  threshold: number;
  labels: string[];
  mean: number;
  std: number;
}

/** An exported recognizer's answer for one face: `score >= threshold` names the head's person, else unknown. */
export interface ExportedAnswer {
  label: string;
  score: number;
}

/** Runs a pipeline .tflite (float32 in and out in every precision) in LiteRT.js on each crop and decides as pipeline.json says. */
export async function tfliteAnswers(litert: LiteRt, bytes: Uint8Array, faces: PredictedFace[], decision: Decision): Promise<ExportedAnswer[]> {
  const compiled = await litert.loadAndCompile(bytes, { accelerator: 'wasm' });
  const answers: ExportedAnswer[] = [];
  try {
    for (const { crop } of faces) {
      const input = new litert.Tensor(Float32Array.from(crop.data, (v) => (v - decision.mean) / decision.std), [1, crop.height, crop.width, 3]);
      const outputs = await compiled.run(input);
      const [probabilities, score] = [outputs[1]!.toTypedArray() as Float32Array, (outputs[3]!.toTypedArray() as Float32Array)[0]!];
      for (const out of outputs) out.delete();
      input.delete();
      const best = probabilities.indexOf(Math.max(...probabilities));
      answers.push({ label: score >= decision.threshold ? decision.labels[best]! : 'unknown', score });
    }
  } finally {
    compiled.delete();
  }
  return answers;
}

export interface Agreement {
  faces: number;
  /** Faces `predict` calls unknown. */
  unknown: number;
  sameLabel: number;
  /** Largest |exported score - predict's score|. */
  maxScoreDifference: number;
  disagreements: string[];
}

export function agreement(faces: PredictedFace[], answers: ExportedAnswer[]): Agreement {
  const disagreements: string[] = [];
  let maxScoreDifference = 0;
  faces.forEach((face, i) => {
    const answer = answers[i]!;
    maxScoreDifference = Math.max(maxScoreDifference, Math.abs(answer.score - face.score));
    if (answer.label !== face.label) disagreements.push(`${face.name}: predict ${face.label} ${face.score.toFixed(3)}, export ${answer.label} ${answer.score.toFixed(3)}`);
  });
  return { faces: faces.length, unknown: faces.filter((f) => f.label === 'unknown').length, sameLabel: faces.length - disagreements.length, maxScoreDifference, disagreements };
}

/** A network of the reference consumer's runtime seam (examples/node-onnx/recognize.mjs): its outputs by name. */
export interface ConsumerNetwork {
  run(values: Float32Array, shape: number[]): Promise<Record<string, Float32Array>>;
}

/**
 * LiteRT.js (wasm CPU) as a runtime of the reference consumer: it loads the pipeline's .tflite
 * files, one face or view per run, each fed in its own input shape (landmarks.tflite NHWC where
 * the ONNX file is NCHW: the same values in the same order).
 */
export async function liteRtConsumerRuntime(): Promise<{ format: 'tflite'; maxBatch: number; load(file: string): Promise<ConsumerNetwork> }> {
  const litert = await loadLiteRtInNode();
  return {
    format: 'tflite',
    maxBatch: 1,
    async load(file) {
      const compiled = await litert.loadAndCompile(new Uint8Array(await readFile(file)), { accelerator: 'wasm' });
      const inputShape = Array.from(compiled.getInputDetails()[0]!.shape);
      const names = compiled.getOutputDetails().map((d) => d.name);
      return {
        async run(values, shape) {
          if (shape[0] !== 1) throw new Error(`${file}: batch 1 only, ${shape[0]} given`);
          const input = new litert.Tensor(Float32Array.from(values), inputShape);
          const outputs = await compiled.run(input);
          const result = Object.fromEntries(names.map((name, i) => [name, Float32Array.from(outputs[i]!.toTypedArray() as Float32Array)]));
          for (const out of outputs) out.delete();
          input.delete();
          return result;
        },
      };
    },
  };
}

/** The Node reference consumer: run as a child process, or imported for its steps on another runtime. */
export const NODE_CONSUMER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'examples', 'node-onnx', 'recognize.mjs');

/** One photo as a consumer answers it (the Node consumer's JSON line). */
export interface ConsumerLine {
  file: string;
  faces: { box: { x: number; y: number; width: number; height: number }; label: string; score: number }[];
}

/** predict's faces per photo, largest first. */
export async function predictAll(modelDir: string, photos: string[]): Promise<FaceResult[][]> {
  const recognizer = await loadRecognizer(modelDir);
  try {
    const expected: FaceResult[][] = [];
    for (const file of photos) expected.push(await recognizer.predict(await readImageBytes(file), { label: file }));
    return expected;
  } finally {
    recognizer.dispose();
  }
}

export interface ConsumerAgreement {
  faces: number;
  /** Faces `predict` calls unknown. */
  unknown: number;
  disagreements: string[];
  /** Faces with the same label whose box is 2 px or more off predict's. */
  boxesOff: string[];
}

/** A consumer's answers against predict's, face by face in order (label, and the box where the labels agree). */
export function consumerAgreement(expected: FaceResult[][], lines: ConsumerLine[]): ConsumerAgreement {
  const result: ConsumerAgreement = { faces: 0, unknown: 0, disagreements: [], boxesOff: [] };
  lines.forEach((line, i) => {
    const want = expected[i] ?? [];
    const count = Math.max(want.length, line.faces.length);
    result.faces += count;
    for (let f = 0; f < count; f++) {
      const [a, b] = [want[f], line.faces[f]];
      if (a?.label === 'unknown') result.unknown++;
      if (!a || !b || a.label !== b.label) result.disagreements.push(`${path.basename(line.file)} face ${f}: predict ${a?.label ?? 'none'} ${a?.score.toFixed(3) ?? ''}, consumer ${b?.label ?? 'none'} ${b?.score.toFixed(3) ?? ''}`);
      else if (Math.abs(a.box.x - b.box.x) >= 2 || Math.abs(a.box.width - b.box.width) >= 2) result.boxesOff.push(`${line.file}: box ${JSON.stringify(b.box)} vs ${JSON.stringify(a.box)}`);
    }
  });
  return result;
}

interface ConsumerModule {
  loadPipeline(dir: string, runtime: Awaited<ReturnType<typeof liteRtConsumerRuntime>>, recognizerFormat?: string): Promise<unknown>;
  recognizeFile(pipeline: unknown, file: string): Promise<ConsumerLine>;
}

/**
 * The whole pipeline from an export's .tflite files alone (detector, landmarks when listed, the
 * recognizer of `recognizerFormat`), in LiteRT.js, by the Node consumer's own steps.
 */
export async function liteRtWholePipeline(exportDir: string, recognizerFormat: string, photos: string[]): Promise<ConsumerLine[]> {
  const consumer = (await import(pathToFileURL(NODE_CONSUMER).href)) as ConsumerModule;
  const pipeline = await consumer.loadPipeline(exportDir, await liteRtConsumerRuntime(), recognizerFormat);
  const lines: ConsumerLine[] = [];
  for (const file of photos) lines.push(await consumer.recognizeFile(pipeline, file));
  return lines;
}
