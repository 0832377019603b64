import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine } from '../tfjs/backend.js';
import { fileSystemIO } from '../tfjs/model-io.js';
import { decodeImageScaled, resizeSquare, type DecodeOptions, type RgbImage } from '../image/decode.js';
import { decide } from '../evaluate/metrics.js';
import { readManifest, type ModelManifest } from '../model-dir/manifest.js';
import { BASE_ROWS } from '../base/index.js';
import { alignmentTransform, DEFAULT_ALIGN_CONFIG } from '../faces/align.js';
import { detectorFor, loadFaceAligner, type FaceAligner } from '../faces/cropper.js';
import { DEFAULT_DETECTOR_CONFIG, type FaceDetector } from '../faces/detect.js';
import { finerCropSource } from '../faces/finer-crop.js';
import { trackingDetector, type FrameSearch, type TrackingDetector, type TrackingOptions } from '../faces/track.js';
import type { Box } from '../faces/geometry.js';
import type { InputSpec } from '../faces/input-spec.js';
import { GALLERY_FILE, personGalleries, readGallery } from '../model-dir/gallery.js';
import { FacetrainError } from '../errors.js';
import type { NumberRange } from '../config.js';
import { classicClassifier, cosine, embeddingClassifier, type FaceClassifier } from './classifier.js';
import { chooseRuntime } from '../runtime/choose.js';
import type { Runtime, RuntimeName } from '../runtime/runtime.js';
import { rowEmbedderOn } from './face-pipeline.js';

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
  /** Names the photo in decoding errors; default `image`. */
  label?: string;
  /** Called once the photo is decoded, before faces are searched (for timings). */
  onDecoded?: () => void;
}

export const PREDICT_DEFAULTS = Object.freeze({ topK: 3 });

/** The range of each number of PredictOptions a front end takes (the CLI's flags and the server's query schema). */
export const PREDICT_RANGES: Readonly<Partial<Record<keyof PredictOptions, NumberRange>>> = Object.freeze({ topK: { min: 1, max: 100, integer: true }, threshold: { min: 0, max: 1 } });

export interface Recognizer {
  readonly manifest: ModelManifest;
  readonly labels: string[];
  predict(image: Uint8Array | RgbImage, options?: PredictOptions): Promise<FaceResult[]>;
  dispose(): void;
}

/** A recognizer of a model directory (or of parts just trained), which also takes camera streams. */
export interface StreamingRecognizer extends Recognizer {
  /**
   * A camera stream's frames, one after another: faces are searched around where they were in the
   * frame before, with a full search every `fullSearchEvery` frames or when a face is lost
   * (`trackingDetector`). Same results as `predict` for a model without detection.
   */
  stream(options?: Partial<TrackingOptions>): FrameStream;
}

/** The frames of one camera stream, recognized in order (one `predict` at a time). */
export interface FrameStream {
  predict(frame: Uint8Array | RgbImage, options?: PredictOptions): Promise<FaceResult[]>;
  /** How the last frame was searched: in full, or around the faces of the frame before. */
  readonly lastSearch: FrameSearch | undefined;
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
  /** How the detected faces are cropped; default loadFaceAligner of the manifest's input spec. */
  aligner?: FaceAligner;
}

/** A face as the model sees it: where it is in the photo, and its aligned crop. */
export interface Located {
  box: Box;
  landmarks?: [number, number][];
  crop: RgbImage;
}

/** An image decoded shrunk, with its source bytes when it came from bytes (for a finer decode). */
interface Decoded {
  image: RgbImage;
  /** Source pixel = decoded pixel * scale. */
  scale: number;
  bytes?: Uint8Array;
}

/**
 * Faces are searched on the shrunk image; a face whose aligned crop would be enlarged (fewer than
 * `size` source pixels across) is cut from a finer decode of the same bytes, the smallest that
 * keeps it at `size`, so recognition sees the detail a full decode would give.
 */
async function locateFaces(decoded: Decoded, parts: { detector?: FaceDetector; aligner: () => Promise<FaceAligner> }, size: number, input: InputSpec, maxFaces: number, decodeOptions: DecodeOptions): Promise<Located[]> {
  const { image, scale } = decoded;
  const toSource = (box: Box): Box => ({ x: box.x * scale, y: box.y * scale, width: box.width * scale, height: box.height * scale });
  if (!parts.detector) return [{ box: toSource({ x: 0, y: 0, width: image.width, height: image.height }), crop: await resizeSquare(image, size) }];
  const faces = (await parts.detector.detect(image)).slice(0, maxFaces > 0 ? maxFaces : undefined);
  const aligner = await parts.aligner();
  // (a template-aligned base's crop scale is close to the eye placement's: the estimate only picks the decode size)
  const enlargement = Math.max(1, ...faces.map((face) => {
    const t = alignmentTransform(face, size, { ...DEFAULT_ALIGN_CONFIG, ...input.align });
    return Math.hypot(t.a, t.b);
  }));
  const cropFrom = enlargement > 1.01 && scale > 1.01 && decoded.bytes && faces.length > 0
    ? await finerCropSource(decoded.bytes, image, scale, faces, enlargement, decodeOptions)
    : { image, faces };
  return Promise.all(faces.map(async (face, i) => ({
    box: toSource(face.box),
    landmarks: face.landmarks.map(([x, y]) => [x * scale, y * scale] as [number, number]),
    crop: await aligner.align(cropFrom.image, cropFrom.faces[i]!),
  })));
}

/** Photos given as bytes are decoded at most this large (shrink-on-load): the detector's search size. */
function searchSide(detector: FaceDetector | undefined): number | ((stored: { width: number; height: number }) => number) {
  return detector ? ({ width, height }) => detector.searchSide(width, height) : DEFAULT_DETECTOR_CONFIG.maxSide;
}

async function decodeForSearch(input: Uint8Array | RgbImage, detector: FaceDetector | undefined, label: string, decodeOptions: DecodeOptions): Promise<Decoded> {
  if (isRgbImage(input)) return { image: input, scale: 1 };
  return { ...(await decodeImageScaled(input, label, { ...decodeOptions, maxSide: decodeOptions.maxSide ?? searchSide(detector) })), bytes: input };
}

/**
 * The faces of a photo exactly as `predict` hands them to the model (`facetrain crop`): found by
 * `detector` and cropped by `aligner` as a model's input spec says, or the whole photo without a detector.
 */
export async function facesAsSeen(photo: Uint8Array | RgbImage, input: InputSpec, detector: FaceDetector | undefined, aligner: FaceAligner | undefined, options: { label?: string; maxFaces?: number } & DecodeOptions = {}): Promise<Located[]> {
  const decoded = await decodeForSearch(photo, detector, options.label ?? 'image', options);
  const parts = { detector, aligner: async () => aligner ?? loadFaceAligner(input) };
  return locateFaces(decoded, parts, input.size, input, options.maxFaces ?? 0, options);
}

/** A recognizer over in-memory parts, e.g. a model just trained, before it is written. */
export function createRecognizer(manifest: ModelManifest, parts: RecognizerParts, decodeOptions: DecodeOptions = {}): StreamingRecognizer {
  const { labels } = manifest;
  let aligner: Promise<FaceAligner> | undefined = parts.aligner && Promise.resolve(parts.aligner);
  const located = { ...parts, aligner: () => (aligner ??= loadFaceAligner(manifest.input)) };
  /** The faces of a decoded photo named, with their embeddings when the model embeds faces. */
  async function recognize(decoded: Decoded, detector: FaceDetector | undefined, classifier: FaceClassifier, options: PredictOptions): Promise<{ results: FaceResult[]; embeddings: Float32Array[] }> {
    const faces = await locateFaces(decoded, { ...located, detector }, classifier.inputSize, manifest.input, options.maxFaces ?? 0, decodeOptions);
    if (faces.length === 0) return { results: [], embeddings: [] };
    const classified = await classifier.classify(faces.map((f) => f.crop));
    const threshold = options.threshold ?? manifest.threshold;
    const results = faces.map(({ box, landmarks }, i) => {
      const { probs, score } = classified[i]!;
      const topK = rankScores(probs, labels, options.topK ?? PREDICT_DEFAULTS.topK);
      return { box, ...(landmarks ? { landmarks } : {}), label: decide({ predicted: topK[0]!.label, score }, threshold), score, topK };
    });
    return { results, embeddings: classified.flatMap((c) => (c.embedding ? [c.embedding] : [])) };
  }
  async function decoded(detector: FaceDetector | undefined, input: Uint8Array | RgbImage, options: PredictOptions): Promise<Decoded> {
    const image = await decodeForSearch(input, detector, options.label ?? 'image', decodeOptions);
    options.onDecoded?.();
    return image;
  }
  const base = BASE_ROWS[manifest.base.name];
  // a followed face is the face of the frame before when their embeddings are the same person at verify's strict (0.1 % false-accept) threshold
  const sameFace = base?.kind === 'embedding' ? base.strictVerifyThreshold : undefined;
  return {
    manifest,
    labels,
    predict: async (input, options = {}) => (await recognize(await decoded(parts.detector, input, options), parts.detector, parts.classifier, options)).results,
    stream(options) {
      let tracker: TrackingDetector | undefined;
      let before: Float32Array[] = [];
      // followed faces keep the order of the frame before
      const stillSeen = (now: Float32Array[]): boolean => sameFace !== undefined && now.every((e, i) => before[i] !== undefined && cosine(e, before[i]!) >= sameFace);
      return {
        async predict(frame, predictOptions = {}) {
          // a camera's frames are searched with frame views (a 640x480 frame's finest level in one rectangle): streams never
          // promised `predict`'s boxes to the bit (followed faces are boxed by the landmarks), and a full search costs 0.75x
          const detector = parts.detector && (tracker ??= trackingDetector(parts.detector.framed(), options, (await located.aligner()).landmarker));
          const image = await decoded(detector, frame, predictOptions);
          let found = await recognize(image, detector, parts.classifier, predictOptions);
          if (tracker?.lastSearch === 'followed' && !stillSeen(found.embeddings)) {
            tracker.lose();
            found = await recognize(image, detector, parts.classifier, predictOptions);
          }
          before = found.embeddings;
          return found.results;
        },
        get lastSearch() {
          return parts.detector ? tracker?.lastSearch : 'full';
        },
      };
    },
    dispose: () => {
      parts.classifier.dispose();
      parts.detector?.dispose();
      void aligner?.then((a) => a.dispose(), () => undefined);
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
  if (!gallery) throw new FacetrainError('FT_ERR_MODEL', `${dir}: ${GALLERY_FILE} is missing; retrain the model, replacing this one`, { options: ['force'] });
  return embeddingClassifier(await rowEmbedderOn(runtime, base), model, personGalleries(gallery.entries, manifest.labels));
}

/** Loads a model directory written by `facetrain train`. */
export async function loadRecognizer(dir: string, options: LoadOptions = {}): Promise<StreamingRecognizer> {
  await initEngine();
  const manifest = await readManifest(dir);
  const runtime = options.runtime ?? (await chooseRuntime(options.engine));
  const detects = manifest.input.crop === 'aligned-face';
  const aligner = detects ? await loadFaceAligner(manifest.input, runtime) : undefined;
  const detector = await detectorFor(manifest.input, runtime);
  return createRecognizer(manifest, { classifier: await loadClassifier(dir, manifest, runtime), detector, aligner }, options);
}
