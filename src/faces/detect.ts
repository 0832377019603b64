import type { GraphModel } from '@tensorflow/tfjs-converter';
import sharp from 'sharp';
import { tf } from '../tfjs/backend.js';
import type { RgbImage } from '../image/decode.js';
import { invalidOption } from '../errors.js';
import { chooseRuntime } from '../runtime/choose.js';
import { createOnnxSession, type OnnxSession } from '../runtime/onnxruntime.js';
import type { Runtime, RuntimeName } from '../runtime/runtime.js';
import { blazeFaceOnnx } from './blazeface-onnx.js';
import { loadHumanModel } from './human-models.js';
import { type Box, type Point, iou } from './geometry.js';

export type { Box, Point } from './geometry.js';

/** Index of each BlazeFace keypoint in `DetectedFace.landmarks` (left/right as seen in the image). */
export const LANDMARK = Object.freeze({ imageLeftEye: 0, imageRightEye: 1, nose: 2, mouth: 3, imageLeftEar: 4, imageRightEar: 5 });

export interface DetectedFace {
  /** Pixels in the source image; may reach past its edges for faces cut by the frame. */
  box: Box;
  /** Pixels in the source image, in `LANDMARK` order. */
  landmarks: Point[];
  /** Detector confidence in [0, 1]. */
  score: number;
}

export interface DetectorConfig {
  /** Detections below this confidence are dropped. */
  minScore: number;
  /** Two detections overlapping more than this (intersection over union) are one face. */
  iouThreshold: number;
  /** Keep at most this many faces (largest first); 0 keeps all. */
  maxFaces: number;
  /**
   * Border added around the whole image, as a fraction of its longest side: BlazeFace was trained on
   * faces that do not fill the frame, so tight crops (150x150 faces) are found only with a margin.
   */
  padding: number;
  /**
   * Faces at least this large (pixels, source image) are searched for: when the whole image shrunk to
   * the detector's 256 px would make them smaller than `minFaceAtInput`, overlapping tiles are searched too.
   * On large photos `minFaceFraction` raises it.
   */
  minFaceSize: number;
  /**
   * The smallest face searched is at least this fraction of the image's shorter side (so a 12 MP
   * photo costs what a small one does: it is searched shrunk until that face is `minFaceSize`
   * pixels, with the same views). 0 searches down to `minFaceSize` pixels at `maxSide`.
   */
  minFaceFraction: number;
  /** Smallest face (pixels at the detector's input) the model finds reliably. */
  minFaceAtInput: number;
  /**
   * Images with a longer side above this are searched shrunk to it (boxes are given in the source
   * image's pixels): the number of views grows with the searched size, so `minFaceSize` holds at
   * this size; with `minFaceFraction` 0 a 12 MP photo is searched for faces of at least 40 / 1440
   * of its longer side (26 views instead of 15).
   */
  maxSide: number;
  /** Folder with blazeface.json/.bin; defaults to the one shipped by @vladmandic/human. */
  modelsDir?: string;
}

export const DEFAULT_DETECTOR_CONFIG: Readonly<DetectorConfig> = Object.freeze({
  minScore: 0.6,
  iouThreshold: 0.3,
  maxFaces: 0,
  padding: 0.25,
  minFaceSize: 40,
  // 1/20: a face is searched down to 40 px up to an 800 px shorter side (every shared photo), and
  // down to 1/20 of the shorter side beyond (151 px in a 4032x3024 photo).
  minFaceFraction: 1 / 20,
  minFaceAtInput: 20,
  maxSide: 1440,
});

export interface FaceDetector {
  readonly config: Readonly<DetectorConfig>;
  /** Longer side a `width` x `height` image is searched at (see `searchSide`): decode it no larger. */
  searchSide(width: number, height: number): number;
  /** Faces in `image`, largest box first. */
  detect(image: RgbImage): Promise<DetectedFace[]>;
  dispose(): void;
}

const INPUT_SIZE = 256;
const KEYPOINTS = 6;

/** A square region of the source image seen by one detector run: source x = left + inputX * step. */
export interface View {
  left: number;
  top: number;
  step: number;
}

/**
 * SSD anchors of the 256 px "back camera" BlazeFace: 2 per cell on the 16x16 grid, then 6 per cell on
 * the 8x8 grid (MediaPipe's anchor spec, as in Human's facemeshutil.generateAnchors).
 */
export function blazeFaceAnchors(inputSize = INPUT_SIZE): Point[] {
  const anchors: Point[] = [];
  for (const [stride, perCell] of [[inputSize / 16, 2], [inputSize / 8, 6]] as const) {
    const cells = Math.ceil(inputSize / stride);
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        for (let n = 0; n < perCell; n++) anchors.push([stride * (x + 0.5), stride * (y + 0.5)]);
      }
    }
  }
  return anchors;
}

const ANCHORS = blazeFaceAnchors();

/**
 * Decodes raw rows [logit, cx, cy, w, h, 6 x (x, y)] (offsets in input pixels from the anchor) into
 * source-image faces for one view; only rows scoring at least `minScore` are kept.
 */
export function decodeBlazeFace(rows: Float32Array, view: View, minScore: number): DetectedFace[] {
  const width = 5 + 2 * KEYPOINTS;
  const faces: DetectedFace[] = [];
  const minLogit = Math.log(minScore / (1 - minScore));
  for (let i = 0; i < ANCHORS.length; i++) {
    const r = i * width;
    if (rows[r] < minLogit) continue;
    const [ax, ay] = ANCHORS[i];
    const toSource = (x: number, y: number): Point => [view.left + (ax + x) * view.step, view.top + (ay + y) * view.step];
    const [cx, cy] = toSource(rows[r + 1], rows[r + 2]);
    const w = rows[r + 3] * view.step;
    const h = rows[r + 4] * view.step;
    const landmarks: Point[] = [];
    for (let k = 0; k < KEYPOINTS; k++) landmarks.push(toSource(rows[r + 5 + 2 * k], rows[r + 6 + 2 * k]));
    faces.push({ box: { x: cx - w / 2, y: cy - h / 2, width: w, height: h }, landmarks, score: 1 / (1 + Math.exp(-rows[r])) });
  }
  return faces;
}

/** Greedy non-maximum suppression: the best-scoring face of each overlapping group survives. */
export function nonMaxSuppression(faces: DetectedFace[], iouThreshold: number): DetectedFace[] {
  const kept: DetectedFace[] = [];
  for (const face of [...faces].sort((a, b) => b.score - a.score)) {
    if (kept.every((k) => iou(k.box, face.box) <= iouThreshold)) kept.push(face);
  }
  return kept;
}

/** The whole image, centred in a square with `padding` x longest side of border on every side. */
export function wholeImageView(width: number, height: number, padding: number): View {
  const side = Math.max(width, height) * (1 + 2 * padding);
  return { left: (width - side) / 2, top: (height - side) / 2, step: side / INPUT_SIZE };
}

/** Evenly spaced starts covering [0, length) with windows of `side`, overlapping by at least half. */
function tileStarts(length: number, side: number): number[] {
  if (side >= length) return [(length - side) / 2];
  const count = Math.ceil((2 * (length - side)) / side) + 1;
  return Array.from({ length: count }, (_, i) => (i * (length - side)) / (count - 1));
}

/**
 * Square tiles in a pyramid: the smallest are sized so a `minFaceSize` face spans `minFaceAtInput`
 * detector pixels, each next level doubles, until the whole-image view alone finds the faces a level
 * would. Half-tile overlap means every face up to half a tile lies wholly inside some tile.
 */
export function tileViews(width: number, height: number, config: Pick<DetectorConfig, 'minFaceSize' | 'minFaceAtInput' | 'padding'>): View[] {
  const smallestWholeFace = config.minFaceAtInput * wholeImageView(width, height, config.padding).step;
  const views: View[] = [];
  // A level of side s finds faces from minFaceAtInput * s / INPUT_SIZE up to s / 2.
  for (let side = (config.minFaceSize * INPUT_SIZE) / config.minFaceAtInput; (config.minFaceAtInput * side) / INPUT_SIZE < smallestWholeFace; side *= 2) {
    for (const top of tileStarts(height, side)) {
      for (const left of tileStarts(width, side)) views.push({ left, top, step: side / INPUT_SIZE });
    }
  }
  return views;
}

/** A tile's detection touching a tile edge inside the image is a cut face, found whole by a neighbour. */
function cutByTile(face: DetectedFace, view: View, width: number, height: number): boolean {
  const side = view.step * INPUT_SIZE;
  const margin = view.step * 2;
  const { x, y, width: w, height: h } = face.box;
  return (x < view.left + margin && view.left > 0)
    || (y < view.top + margin && view.top > 0)
    || (x + w > view.left + side - margin && view.left + side < width)
    || (y + h > view.top + side - margin && view.top + side < height);
}

/**
 * Faces below `minFaceAtInput` detector pixels come out misplaced (boxes straddling two small faces);
 * a finer pyramid level sees them at a size the model handles, so the coarse detection is dropped.
 */
function betterSeenFiner(face: DetectedFace, view: View, finestStep: number, minFaceAtInput: number): boolean {
  return view.step > finestStep && face.box.width / view.step < minFaceAtInput;
}

/** The smallest face searched for in a `width` x `height` image, in its pixels. */
export function smallestFace(width: number, height: number, config: Pick<DetectorConfig, 'minFaceSize' | 'minFaceFraction'>): number {
  return Math.max(config.minFaceSize, config.minFaceFraction * Math.min(width, height));
}

/**
 * Longer side the image is searched at: shrunk until its smallest face searched is `minFaceSize`
 * pixels, and at most `maxSide`. Searching a shrunk copy loses nothing: the finest views sample it
 * at 2 pixels per detector pixel (`minFaceSize / minFaceAtInput`) at any size.
 */
export function searchSide(width: number, height: number, config: Pick<DetectorConfig, 'minFaceSize' | 'minFaceFraction' | 'maxSide'>): number {
  const longer = Math.max(width, height);
  const wanted = Math.ceil((longer * config.minFaceSize) / smallestFace(width, height, config));
  // A copy decoded at the search side has rounded sides: a pixel or two over is not worth a second shrink.
  return Math.min(config.maxSide, wanted >= longer - 2 ? longer : wanted);
}

function checkConfig(config: DetectorConfig): void {
  const unit = (name: keyof DetectorConfig): void => {
    const v = config[name] as number;
    if (!(v > 0 && v < 1)) throw invalidOption(`detector ${name}`, 'a number between 0 and 1', v);
  };
  unit('minScore');
  unit('iouThreshold');
  if (!(config.padding >= 0 && config.padding <= 1)) throw invalidOption('detector padding', 'a number between 0 and 1', config.padding);
  if (!(config.minFaceSize > 0)) throw invalidOption('detector minFaceSize', 'a positive number of pixels', config.minFaceSize);
  if (!(config.minFaceFraction >= 0 && config.minFaceFraction < 1)) throw invalidOption('detector minFaceFraction', 'a number from 0 to below 1', config.minFaceFraction);
  if (!(Number.isInteger(config.maxSide) && config.maxSide >= INPUT_SIZE)) throw invalidOption('detector maxSide', `a whole number of pixels >= ${INPUT_SIZE}`, config.maxSide);
  if (!(config.minFaceAtInput > 0)) throw invalidOption('detector minFaceAtInput', 'a positive number of pixels', config.minFaceAtInput);
  if (!(Number.isInteger(config.maxFaces) && config.maxFaces >= 0)) throw invalidOption('detector maxFaces', 'a whole number >= 0', config.maxFaces);
}

/**
 * Writes the detector input for one view at `out[offset...]`: [256, 256, 3] in [-1, 1], black (-1)
 * outside the image. Bilinear, sampling as tf.image.cropAndResize does with the view's corners at
 * pixel centres (input pixel j sits at source left + (j + 0.5) * step), but straight from the 8-bit
 * pixels: cropAndResize on the wasm backend took 15-20 ms a view, several times this.
 */
export function writeViewInput(image: RgbImage, view: View, out: Float32Array, offset = 0): void {
  const { width, height, data } = image;
  const xs = new Int32Array(INPUT_SIZE * 2);
  const xLerp = new Float32Array(INPUT_SIZE);
  const xInside = new Uint8Array(INPUT_SIZE);
  for (let j = 0; j < INPUT_SIZE; j++) {
    const x = view.left + (j + 0.5) * view.step - 0.5;
    xInside[j] = x >= 0 && x <= width - 1 ? 1 : 0;
    xs[2 * j] = Math.floor(x) * 3;
    xs[2 * j + 1] = Math.ceil(x) * 3;
    xLerp[j] = x - Math.floor(x);
  }
  for (let i = 0; i < INPUT_SIZE; i++) {
    const y = view.top + (i + 0.5) * view.step - 0.5;
    const row = offset + i * INPUT_SIZE * 3;
    if (y < 0 || y > height - 1) {
      out.fill(-1, row, row + INPUT_SIZE * 3);
      continue;
    }
    const top = Math.floor(y) * width * 3;
    const bottom = Math.ceil(y) * width * 3;
    const yLerp = y - Math.floor(y);
    for (let j = 0; j < INPUT_SIZE; j++) {
      const o = row + j * 3;
      if (!xInside[j]) {
        out[o] = out[o + 1] = out[o + 2] = -1;
        continue;
      }
      const left = xs[2 * j]!;
      const right = xs[2 * j + 1]!;
      const fx = xLerp[j]!;
      for (let ch = 0; ch < 3; ch++) {
        const t = data[top + left + ch]! + (data[top + right + ch]! - data[top + left + ch]!) * fx;
        const b = data[bottom + left + ch]! + (data[bottom + right + ch]! - data[bottom + left + ch]!) * fx;
        out[o + ch] = (t + (b - t) * yLerp) / 127.5 - 1;
      }
    }
  }
}

const VIEW_VALUES = INPUT_SIZE * INPUT_SIZE * 3;

/** Runs the pinto-converted BlazeFace (four outputs) and joins them into [896, 17] rows per view. */
function runBlazeFace(model: GraphModel, input: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const outputs = model.execute(input) as tf.Tensor[];
    // Outputs come as (scores, regressors) for the 512 fine and 384 coarse anchors, in no fixed order.
    const bySize = [...outputs].sort((a, b) => a.size - b.size);
    const coarse = tf.concat([bySize[0], bySize[2]], 2);
    const fine = tf.concat([bySize[1], bySize[3]], 2);
    return tf.concat([fine, coarse], 1) as tf.Tensor3D;
  });
}

function checkSize(image: RgbImage): void {
  if (image.width < 2 || image.height < 2) throw invalidOption('image size', 'at least 2x2 pixels', `${image.width}x${image.height}`);
}

/** Raw detections per view on TF.js; the graph's input is pinned to batch 1, so views run one by one. */
async function detectInViewsTfjs(model: GraphModel, image: RgbImage, views: View[], minScore: number): Promise<DetectedFace[][]> {
  checkSize(image);
  const found: DetectedFace[][] = [];
  const input = new Float32Array(VIEW_VALUES);
  for (const view of views) {
    writeViewInput(image, view, input);
    const rows = tf.tidy(() => runBlazeFace(model, tf.tensor4d(input, [1, INPUT_SIZE, INPUT_SIZE, 3])));
    const data = (await rows.data()) as Float32Array;
    rows.dispose();
    found.push(decodeBlazeFace(data, view, minScore));
  }
  return found;
}

/** Views per onnxruntime run: enough to keep both cores busy, few enough to bound the input (12 MB). */
const VIEWS_PER_RUN = 16;

/**
 * Raw detections per view on onnxruntime, many views per run. The outputs are told apart by size
 * (scores and regressors of the 512 fine and 384 coarse anchors) and joined into the TF.js path's rows.
 */
async function detectInViewsOnnx(session: OnnxSession, image: RgbImage, views: View[], minScore: number): Promise<DetectedFace[][]> {
  checkSize(image);
  const found: DetectedFace[][] = [];
  const width = 5 + 2 * KEYPOINTS;
  for (let start = 0; start < views.length; start += VIEWS_PER_RUN) {
    const batch = views.slice(start, start + VIEWS_PER_RUN);
    const input = new Float32Array(batch.length * VIEW_VALUES);
    batch.forEach((view, v) => writeViewInput(image, view, input, v * VIEW_VALUES));
    const outputs = (await session.run(input, [batch.length, INPUT_SIZE, INPUT_SIZE, 3])).sort((a, b) => a.length - b.length);
    const [coarseScores, fineScores, coarseBoxes, fineBoxes] = outputs as [Float32Array, Float32Array, Float32Array, Float32Array];
    const fine = fineScores.length / batch.length;
    const coarse = coarseScores.length / batch.length;
    batch.forEach((view, v) => {
      const rows = new Float32Array(ANCHORS.length * width);
      for (let a = 0; a < fine + coarse; a++) {
        const [scores, boxes, index] = a < fine ? [fineScores, fineBoxes, v * fine + a] : [coarseScores, coarseBoxes, v * coarse + a - fine];
        rows[a * width] = scores[index]!;
        rows.set(boxes.subarray(index * (width - 1), (index + 1) * (width - 1)), a * width + 1);
      }
      found.push(decodeBlazeFace(rows, view, minScore));
    });
  }
  return found;
}

/** The image shrunk (area-averaged by sharp) so its longer side is at most `maxSide`, or itself. */
async function shrinkTo(image: RgbImage, maxSide: number): Promise<RgbImage> {
  if (Math.max(image.width, image.height) <= maxSide) return image;
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(maxSide, maxSide, { fit: 'inside' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

/** A face found on a resized copy, in the pixels of the image `sx` x `sy` times as large. */
export function scaleFace(face: DetectedFace, sx: number, sy: number): DetectedFace {
  const { x, y, width, height } = face.box;
  return { box: { x: x * sx, y: y * sy, width: width * sx, height: height * sy }, landmarks: face.landmarks.map(([px, py]) => [px * sx, py * sy]), score: face.score };
}

function boxArea(face: DetectedFace): number {
  return face.box.width * face.box.height;
}

/**
 * BlazeFace on the runtime (onnxruntime: converted in memory, all views of an image in a few batched
 * runs; TF.js: one view at a time). Callers that chose a runtime pass it; a name or nothing goes
 * through `chooseRuntime`.
 */
export async function loadFaceDetector(config: Partial<DetectorConfig> = {}, runtime?: Runtime | RuntimeName): Promise<FaceDetector> {
  const full: DetectorConfig = { ...DEFAULT_DETECTOR_CONFIG, ...config };
  checkConfig(full);
  const model = await loadHumanModel('blazeface', full.modelsDir);
  const { ort } = typeof runtime === 'object' ? runtime : await chooseRuntime(runtime);
  const session = ort ? await createOnnxSession(ort, blazeFaceOnnx(model)) : undefined;
  const detectInViews = (image: RgbImage, views: View[], minScore: number): Promise<DetectedFace[][]> =>
    session ? detectInViewsOnnx(session, image, views, minScore) : detectInViewsTfjs(model, image, views, minScore);
  const detectAtSize = async (image: RgbImage): Promise<DetectedFace[]> => {
    const views = [wholeImageView(image.width, image.height, full.padding), ...tileViews(image.width, image.height, full)];
    const finestStep = Math.min(...views.map((v) => v.step));
    const found = await detectInViews(image, views, full.minScore);
    const candidates = found.flatMap((faces, i) => faces.filter((f) => !cutByTile(f, views[i], image.width, image.height) && !betterSeenFiner(f, views[i], finestStep, full.minFaceAtInput)));
    const faces = nonMaxSuppression(candidates, full.iouThreshold).sort((a, b) => boxArea(b) - boxArea(a));
    return full.maxFaces > 0 ? faces.slice(0, full.maxFaces) : faces;
  };
  return {
    config: Object.freeze(full),
    searchSide: (width, height) => searchSide(width, height, full),
    async detect(source) {
      const image = await shrinkTo(source, searchSide(source.width, source.height, full));
      const faces = await detectAtSize(image);
      return image === source ? faces : faces.map((f) => scaleFace(f, source.width / image.width, source.height / image.height));
    },
    dispose() {
      session?.release();
      model.dispose();
    },
  };
}
