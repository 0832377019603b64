import type { RgbImage } from '../image/decode.js';
import { invalidOption } from '../errors.js';
import type { OnnxSession } from '../runtime/onnxruntime.js';
import type { Point, Box } from './geometry.js';

/** BlazeFace's views of an image on onnxruntime, from pixels to faces, without TF.js. */

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

export const INPUT_SIZE = 256;
const KEYPOINTS = 6;

/**
 * A region of the source image seen by one detector run: source x = left + inputX * step. Views are
 * `INPUT_SIZE` square (what the model was trained on, and all TF.js runs) or, for frames on
 * onnxruntime, a rectangle of whole 32 px cells covering the image (`frameView`).
 */
export interface View {
  left: number;
  top: number;
  step: number;
  /** Detector input pixels across and down. */
  columns: number;
  rows: number;
}

/**
 * SSD anchors of the 256 px "back camera" BlazeFace: 2 per cell on the 16x16 grid, then 6 per cell on
 * the 8x8 grid (MediaPipe's anchor spec, as in Human's facemeshutil.generateAnchors).
 */
export function blazeFaceAnchors(columns = INPUT_SIZE, rows = columns): Point[] {
  const anchors: Point[] = [];
  for (const [stride, perCell] of [[INPUT_SIZE / 16, 2], [INPUT_SIZE / 8, 6]] as const) {
    for (let y = 0; y < Math.ceil(rows / stride); y++) {
      for (let x = 0; x < Math.ceil(columns / stride); x++) {
        for (let n = 0; n < perCell; n++) anchors.push([stride * (x + 0.5), stride * (y + 0.5)]);
      }
    }
  }
  return anchors;
}

const anchorsBySize = new Map<string, Point[]>();

export function anchorsOf(view: View): Point[] {
  const key = `${view.columns}x${view.rows}`;
  let anchors = anchorsBySize.get(key);
  if (!anchors) anchorsBySize.set(key, (anchors = blazeFaceAnchors(view.columns, view.rows)));
  return anchors;
}

/**
 * Decodes raw rows [logit, cx, cy, w, h, 6 x (x, y)] (offsets in input pixels from the anchor) into
 * source-image faces for one view; only rows scoring at least `minScore` are kept.
 */
export function decodeBlazeFace(rows: Float32Array, view: View, minScore: number): DetectedFace[] {
  const width = 5 + 2 * KEYPOINTS;
  const faces: DetectedFace[] = [];
  const minLogit = Math.log(minScore / (1 - minScore));
  const anchors = anchorsOf(view);
  for (let i = 0; i < anchors.length; i++) {
    const r = i * width;
    if (rows[r]! < minLogit) continue;
    const [ax, ay] = anchors[i]!;
    const toSource = (x: number, y: number): Point => [view.left + (ax + x) * view.step, view.top + (ay + y) * view.step];
    const [cx, cy] = toSource(rows[r + 1]!, rows[r + 2]!);
    const w = rows[r + 3]! * view.step;
    const h = rows[r + 4]! * view.step;
    const landmarks: Point[] = [];
    for (let k = 0; k < KEYPOINTS; k++) landmarks.push(toSource(rows[r + 5 + 2 * k]!, rows[r + 6 + 2 * k]!));
    faces.push({ box: { x: cx - w / 2, y: cy - h / 2, width: w, height: h }, landmarks, score: 1 / (1 + Math.exp(-rows[r]!)) });
  }
  return faces;
}

/** 8-bit pixel to [-1, 1] as value * PIXEL_SCALE - 1: a multiply, not a division per value (0.8x the CPU time of a view). */
const PIXEL_SCALE = 1 / 127.5;

/**
 * Writes the detector input for one view at `out[offset...]`: [rows, columns, 3] in [-1, 1], black (-1)
 * outside the image. Bilinear, sampling as tf.image.cropAndResize does with the view's corners at
 * pixel centres (input pixel j sits at source left + (j + 0.5) * step), but straight from the 8-bit
 * pixels: cropAndResize on the wasm backend took 15-20 ms a view, several times this.
 */
export function writeViewInput(image: RgbImage, view: View, out: Float32Array, offset = 0): void {
  const { width, height, data } = image;
  const { columns, rows } = view;
  const lefts = new Int32Array(columns);
  const rights = new Int32Array(columns);
  const xLerp = new Float32Array(columns);
  // source x grows with j, so the columns inside the image are one run [first, last]
  let first = columns;
  let last = -1;
  for (let j = 0; j < columns; j++) {
    const x = view.left + (j + 0.5) * view.step - 0.5;
    if (x >= 0 && x <= width - 1) {
      first = Math.min(first, j);
      last = j;
    }
    lefts[j] = Math.floor(x) * 3;
    rights[j] = Math.ceil(x) * 3;
    xLerp[j] = x - Math.floor(x);
  }
  for (let i = 0; i < rows; i++) {
    const y = view.top + (i + 0.5) * view.step - 0.5;
    const row = offset + i * columns * 3;
    if (y < 0 || y > height - 1 || last < 0) {
      out.fill(-1, row, row + columns * 3);
      continue;
    }
    const top = Math.floor(y) * width * 3;
    const bottom = Math.ceil(y) * width * 3;
    const yLerp = y - Math.floor(y);
    out.fill(-1, row, row + first * 3);
    out.fill(-1, row + (last + 1) * 3, row + columns * 3);
    // the three channels written out (not a loop): 0.8x the CPU time of a view, the same values
    for (let j = first, o = row + first * 3; j <= last; j++, o += 3) {
      const tl = top + lefts[j]!;
      const tr = top + rights[j]!;
      const bl = bottom + lefts[j]!;
      const br = bottom + rights[j]!;
      const fx = xLerp[j]!;
      let t = data[tl]! + (data[tr]! - data[tl]!) * fx;
      let b = data[bl]! + (data[br]! - data[bl]!) * fx;
      out[o] = (t + (b - t) * yLerp) * PIXEL_SCALE - 1;
      t = data[tl + 1]! + (data[tr + 1]! - data[tl + 1]!) * fx;
      b = data[bl + 1]! + (data[br + 1]! - data[bl + 1]!) * fx;
      out[o + 1] = (t + (b - t) * yLerp) * PIXEL_SCALE - 1;
      t = data[tl + 2]! + (data[tr + 2]! - data[tl + 2]!) * fx;
      b = data[bl + 2]! + (data[br + 2]! - data[bl + 2]!) * fx;
      out[o + 2] = (t + (b - t) * yLerp) * PIXEL_SCALE - 1;
    }
  }
}

export const viewValues = (view: View): number => view.columns * view.rows * 3;

export function checkSize(image: RgbImage): void {
  if (image.width < 2 || image.height < 2) throw invalidOption('image size', 'at least 2x2 pixels', `${image.width}x${image.height}`);
}

/** Views per onnxruntime run: enough to keep both cores busy, few enough to bound the input (12 MB). */
const VIEWS_PER_RUN = 16;

/** Consecutive views of one size, at most `VIEWS_PER_RUN` each: one onnxruntime run apiece. */
function sameSizeBatches(views: View[]): View[][] {
  const batches: View[][] = [];
  for (const view of views) {
    const last = batches.at(-1);
    if (last && last.length < VIEWS_PER_RUN && last[0]!.columns === view.columns && last[0]!.rows === view.rows) last.push(view);
    else batches.push([view]);
  }
  return batches;
}

/**
 * Raw detections per view on onnxruntime, many views per run. The outputs are told apart by size
 * (scores and regressors of the fine and coarse anchors) and joined into the TF.js path's rows.
 */
export async function detectInViewsOnnx(session: OnnxSession, image: RgbImage, views: View[], minScore: number): Promise<DetectedFace[][]> {
  checkSize(image);
  const found: DetectedFace[][] = [];
  const width = 5 + 2 * KEYPOINTS;
  for (const batch of sameSizeBatches(views)) {
    const values = viewValues(batch[0]!);
    const input = new Float32Array(batch.length * values);
    batch.forEach((view, v) => writeViewInput(image, view, input, v * values));
    const outputs = (await session.run(input, [batch.length, batch[0]!.rows, batch[0]!.columns, 3])).sort((a, b) => a.length - b.length);
    const [coarseScores, fineScores, coarseBoxes, fineBoxes] = outputs as [Float32Array, Float32Array, Float32Array, Float32Array];
    const fine = fineScores.length / batch.length;
    const coarse = coarseScores.length / batch.length;
    batch.forEach((view, v) => {
      const rows = new Float32Array(anchorsOf(view).length * width);
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

