import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine } from '../tfjs/backend.js';
import { fileSystemIO } from '../tfjs/model-io.js';
import { decodeImage, resizeSquare, type DecodeOptions, type RgbImage } from '../image/decode.js';
import { decide } from '../evaluate/metrics.js';
import { readManifest, type ModelManifest } from '../model-dir/manifest.js';
import { BASE_ROWS } from '../base/index.js';
import { alignFace } from '../faces/align.js';
import { detectorFor } from '../faces/cropper.js';
import type { FaceDetector } from '../faces/detect.js';
import type { Box } from '../faces/geometry.js';
import { GALLERY_FILE, personCentroids, readGallery } from '../model-dir/gallery.js';
import { FacetrainError } from '../errors.js';
import { classicClassifier, embeddingClassifier, type FaceClassifier } from './classifier.js';
import { chooseRuntime } from '../runtime/choose.js';
import type { Runtime, RuntimeName } from '../runtime/runtime.js';
import { embedderOn } from './onnx-engine.js';

export interface Candidate {
  label: string;
  score: number;
}

/** One recognized face (or the whole image, for models trained without detection). */
export interface FaceResult {
  box: Box;
  landmarks?: [number, number][];
  /** A known person's name, or `unknown` when the best score is under the threshold. */
  label: string;
  score: number;
  topK: Candidate[];
}

export interface PredictOptions {
  topK?: number;
  /** Recognize at most this many faces, largest first; 0 means all. */
  maxFaces?: number;
  /** Overrides the calibrated threshold stored in facetrain.json. */
  threshold?: number;
}

export interface Recognizer {
  readonly manifest: ModelManifest;
  readonly labels: string[];
  predict(image: Uint8Array | RgbImage, options?: PredictOptions): Promise<FaceResult[]>;
  dispose(): void;
}

/** Best-first candidates from one probability row. */
export function rankScores(scores: ArrayLike<number>, labels: string[], topK: number): Candidate[] {
  return labels
    .map((label, i) => ({ label, score: scores[i] ?? 0 }))
    .sort((a, b) => b.score - a.score)
    .slice(0, Math.max(1, topK));
}

function isRgbImage(x: Uint8Array | RgbImage): x is RgbImage {
  return (x as RgbImage).width !== undefined && !(x instanceof Uint8Array);
}

export interface RecognizerParts {
  classifier: FaceClassifier;
  /** Present when the model was trained on aligned faces; absent for whole-image models. */
  detector?: FaceDetector;
}

interface Located {
  box: Box;
  landmarks?: [number, number][];
  crop: RgbImage;
}

async function locateFaces(image: RgbImage, parts: RecognizerParts, manifest: ModelManifest, maxFaces: number): Promise<Located[]> {
  const size = parts.classifier.inputSize;
  if (!parts.detector) return [{ box: { x: 0, y: 0, width: image.width, height: image.height }, crop: await resizeSquare(image, size) }];
  const faces = (await parts.detector.detect(image)).slice(0, maxFaces > 0 ? maxFaces : undefined);
  return Promise.all(faces.map(async (face) => ({ box: face.box, landmarks: face.landmarks, crop: await alignFace(image, face, size, manifest.input.align) })));
}

/** A recognizer over in-memory parts, e.g. a model just trained, before it is written. */
export function createRecognizer(manifest: ModelManifest, parts: RecognizerParts, decodeOptions: DecodeOptions = {}): Recognizer {
  const { labels } = manifest;
  return {
    manifest,
    labels,
    async predict(input, options = {}) {
      const image = isRgbImage(input) ? input : await decodeImage(input, 'image', decodeOptions);
      const faces = await locateFaces(image, parts, manifest, options.maxFaces ?? 0);
      if (faces.length === 0) return [];
      const classified = await parts.classifier.classify(faces.map((f) => f.crop));
      const threshold = options.threshold ?? manifest.threshold;
      return faces.map(({ box, landmarks }, i) => {
        const { probs, score } = classified[i]!;
        const topK = rankScores(probs, labels, options.topK ?? 3);
        return { box, ...(landmarks ? { landmarks } : {}), label: decide({ predicted: topK[0]!.label, score }, threshold), score, topK };
      });
    },
    dispose: () => {
      parts.classifier.dispose();
      parts.detector?.dispose();
    },
  };
}

export interface LoadOptions extends DecodeOptions {
  /** Runtime for the networks: onnxruntime-node (faster, both cores) or TF.js; default onnx when installed. */
  engine?: RuntimeName;
  /** The runtime a command already chose (`chooseRuntime` once per command); `engine` is then not consulted. */
  runtime?: Runtime;
}

async function loadClassifier(dir: string, manifest: ModelManifest, runtime: Runtime): Promise<FaceClassifier> {
  const model = await tfl.loadLayersModel(fileSystemIO(dir));
  const base = BASE_ROWS[manifest.base.name];
  if (base.kind === 'classifier') return classicClassifier(runtime, model, manifest.input);
  const gallery = await readGallery(dir);
  if (!gallery) throw new FacetrainError('FT_ERR_MODEL', `${dir}: ${GALLERY_FILE} is missing; retrain the model with --force`);
  const embedder = await base.loadEmbedder();
  return embeddingClassifier(await embedderOn(runtime, embedder), model, personCentroids(gallery.entries, manifest.labels));
}

/** Loads a model directory written by `facetrain train`. */
export async function loadRecognizer(dir: string, options: LoadOptions = {}): Promise<Recognizer> {
  await initEngine();
  const manifest = await readManifest(dir);
  const detector = await detectorFor(manifest.input);
  return createRecognizer(manifest, { classifier: await loadClassifier(dir, manifest, options.runtime ?? (await chooseRuntime(options.engine))), detector }, options);
}
