import type { GraphModel } from '@tensorflow/tfjs-converter';
import sharp from 'sharp';
import { tf } from '../tfjs/backend.js';
import type { RgbImage } from '../image/decode.js';
import { invalidOption } from '../errors.js';
import { chooseRuntime } from '../runtime/choose.js';
import type { Runtime, RuntimeName } from '../runtime/runtime.js';
import { cachedBlazeFaceOnnx } from './blazeface-onnx.js';
import { BlazeFaceSessions } from './blazeface-sessions.js';
import { checkSize, decodeBlazeFace, detectInViewsOnnx, INPUT_SIZE, writeViewInput, type DetectedFace, type View } from './blazeface-views.js';
import { humanModelsDir, loadHumanModel } from './human-models.js';
import { type Box, iou } from './geometry.js';

export type { Box, Point } from './geometry.js';
export { blazeFaceAnchors, decodeBlazeFace, LANDMARK, writeViewInput, type DetectedFace, type View } from './blazeface-views.js';

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
   * pixels, with the same views). 0 searches down to `minFaceSize` pixels at `maxSide`. Detections
   * smaller than this fraction are dropped: no view looks for them, so they are found by chance
   * (none of the 2,224 shared photos has one; the 12 MP bench photo's watch, 123 of its 151 px, was
   * one, and aligning it cost a decode at the stored size).
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
  /**
   * On onnxruntime, search a frame-sized image's finest pyramid level in one rectangular view
   * (`frameView`: a 640x480 frame takes 2 views, 0.75x the input pixels, instead of 3). Boxes then move
   * by up to 0.2 px and scores by up to 3e-3 from the square tiles TF.js runs, so it is off by
   * default: both runtimes give the same answers unless a caller asks for speed. Camera streams
   * search with it (`FaceDetector.framed`): a 640x480 frame's detection on one thread 13.0 vs 17.4
   * ms (0.75x, medians of 55 interleaved rounds, 2 December 17:15), on two 11.5 vs 12.6 ms.
   */
  frameViews: boolean;
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
  frameViews: false,
});

export interface FaceDetector {
  readonly config: Readonly<DetectorConfig>;
  /** Longer side a `width` x `height` image is searched at (see `searchSide`): decode it no larger. */
  searchSide(width: number, height: number): number;
  /** Faces in `image`, largest box first. */
  detect(image: RgbImage): Promise<DetectedFace[]>;
  /**
   * Faces in the views of `detect`'s that see `faces` (found in the frame before of a stream,
   * same size) as `detect` did (`viewsFor`), filtered and ordered as `detect`'s; undefined when no
   * view holds them. For camera streams: see `trackingDetector`.
   */
  detectAround(image: RgbImage, faces: DetectedFace[]): Promise<DetectedFace[] | undefined>;
  /**
   * This detector with `frameViews` on, on the same sessions (itself on TF.js, or when they are on):
   * what camera streams search with. Its `dispose` does nothing; this one's ends both.
   */
  framed(): FaceDetector;
  dispose(): void;
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
  return { left: (width - side) / 2, top: (height - side) / 2, step: side / INPUT_SIZE, columns: INPUT_SIZE, rows: INPUT_SIZE };
}

/** Evenly spaced starts covering [0, length) with windows of `side` overlapping by at least `overlap` (default half a window). */
function tileStarts(length: number, side: number, overlap = side / 2): number[] {
  if (side >= length) return [(length - side) / 2];
  const count = Math.ceil((length - side) / (side - overlap)) + 1;
  return Array.from({ length: count }, (_, i) => (i * (length - side)) / (count - 1));
}

function squareTiles(width: number, height: number, side: number, overlap?: number): View[] {
  const views: View[] = [];
  for (const top of tileStarts(height, side, overlap)) {
    for (const left of tileStarts(width, side, overlap)) views.push({ left, top, step: side / INPUT_SIZE, columns: INPUT_SIZE, rows: INPUT_SIZE });
  }
  return views;
}

/**
 * Images at least this large on the shorter side (phone photos, searched where the `minFaceFraction`
 * rule puts their smallest face) get the coarse-to-fine pyramid (`heldPyramid`); smaller ones (every
 * shared photo, camera frames) keep the half-tile pyramid, so their faces and scores stay as they were.
 */
export const COARSE_TO_FINE_MIN_SIDE = 800;

/** Detector pixels a detection keeps from a tile edge inside the image, or it counts as cut (`cutByTile`). */
const CUT_MARGIN = 2;

/** A detected box may be this much larger than the face size a level is there for (boxes are not the face's size exactly). */
const BOX_SLACK = 1.25;

/** Overlap with which a level's tiles hold every face up to `held` pixels wholly, clear of the cut margin. */
function overlapHolding(held: number, side: number): number {
  return held * BOX_SLACK + 2 * CUT_MARGIN * (side / INPUT_SIZE);
}

/**
 * Coarse to fine: the whole-image view sees faces from `minFaceAtInput` of its pixels up, so a finer
 * level is searched only for the sizes no coarser search sees reliably, and its tiles overlap just
 * enough to hold those faces whole (not half a tile). Levels double from the finest (where a
 * `minFaceSize` face is `minFaceAtInput` detector pixels); of the chains of levels from it, the one
 * with the fewest views is searched. A 1067x800 photo (a 12 MP photo searched for its smallest face)
 * takes 6 tiles at the finest level, holding faces up to the whole view's reliable size, instead of
 * 12 + 2 half-overlapping tiles on two levels.
 */
function heldPyramid(width: number, height: number, sides: number[], wholeReliable: number, minFaceAtInput: number): View[] {
  const reliable = (side: number) => (minFaceAtInput * side) / INPUT_SIZE;
  let best: View[] | undefined;
  // every chain starts at the finest level (the only one that sees minFaceSize faces); bit i picks sides[i + 1]
  for (let pick = 0; pick < 2 ** (sides.length - 1); pick++) {
    const chain = [sides[0]!, ...sides.slice(1).filter((_, i) => pick & (1 << i))];
    const levels = chain.map((side, i) => ({ side, held: i + 1 < chain.length ? reliable(chain[i + 1]!) : wholeReliable }));
    if (levels.some(({ side, held }) => overlapHolding(held, side) > side / 2)) continue;
    const views = levels.flatMap(({ side, held }) => squareTiles(width, height, side, overlapHolding(held, side)));
    if (!best || views.length < best.length) best = views;
  }
  // the chain of every level always qualifies: each then holds faces up to twice its smallest (54 of its 128 half-tile detector pixels)
  return best!;
}

/**
 * Square tiles in a pyramid: the smallest are sized so a `minFaceSize` face spans `minFaceAtInput`
 * detector pixels, each next level doubles, until the whole-image view alone finds the faces a level
 * would. Half-tile overlap means every face up to half a tile lies wholly inside some tile; images of
 * at least `COARSE_TO_FINE_MIN_SIDE` take the coarse-to-fine pyramid (`heldPyramid`) instead.
 */
export function tileViews(width: number, height: number, config: Pick<DetectorConfig, 'minFaceSize' | 'minFaceAtInput' | 'padding'>): View[] {
  const smallestWholeFace = config.minFaceAtInput * wholeImageView(width, height, config.padding).step;
  const sides: number[] = [];
  // A level of side s finds faces from minFaceAtInput * s / INPUT_SIZE up to s / 2.
  for (let side = (config.minFaceSize * INPUT_SIZE) / config.minFaceAtInput; (config.minFaceAtInput * side) / INPUT_SIZE < smallestWholeFace; side *= 2) sides.push(side);
  if (sides.length === 0) return [];
  if (Math.min(width, height) >= COARSE_TO_FINE_MIN_SIDE) return heldPyramid(width, height, sides, smallestWholeFace, config.minFaceAtInput);
  return sides.flatMap((side) => squareTiles(width, height, side));
}

/** The detector's coarsest anchor grid: a view's sides are whole cells of it. */
const CELL = INPUT_SIZE / 8;

/** Input pixels of a frame view at most: two square views' worth (a 640x480 frame takes 320x256). */
const MAX_FRAME_VIEW_PIXELS = 2 * INPUT_SIZE * INPUT_SIZE;

/**
 * The whole image at the finest tiles' step in one rectangle of whole cells, centred, when that costs
 * fewer input pixels than those tiles and at most `MAX_FRAME_VIEW_PIXELS` (frames); otherwise
 * undefined. It finds every face they find (from `minFaceSize` up to past half a tile) without the
 * overlap; larger images keep the square tiles TF.js runs too, so both runtimes agree on photos.
 */
export function frameView(width: number, height: number, tiles: View[]): View | undefined {
  if (tiles.length === 0) return undefined;
  const step = Math.min(...tiles.map((v) => v.step));
  const finest = tiles.filter((v) => v.step === step);
  const columns = Math.ceil(width / step / CELL) * CELL;
  const rows = Math.ceil(height / step / CELL) * CELL;
  const pixels = columns * rows;
  if (pixels > MAX_FRAME_VIEW_PIXELS || pixels >= finest.length * INPUT_SIZE * INPUT_SIZE) return undefined;
  return { left: (width - columns * step) / 2, top: (height - rows * step) / 2, step, columns, rows };
}

/**
 * The views of a full search (`views`) that see `boxes` (the faces of a stream's frame before) as
 * it did: the finest view holding them all with the most room to its edges inside the image (where
 * a face may move before it is cut), and the whole-image view too when every face is at least its
 * reliable size (it may then have given their boxes); undefined when they need views it has not.
 */
export function viewsFor(boxes: Box[], views: View[], image: { width: number; height: number }, minFaceAtInput: number): View[] | undefined {
  if (boxes.length === 0) return undefined;
  const whole = views[0]!;
  const left = Math.min(...boxes.map((b) => b.x));
  const top = Math.min(...boxes.map((b) => b.y));
  const right = Math.max(...boxes.map((b) => b.x + b.width));
  const bottom = Math.max(...boxes.map((b) => b.y + b.height));
  const finestStep = Math.min(...views.map((v) => v.step));
  // room to an edge outside the image is unlimited: a face is not cut there
  const room = (v: View) => Math.min(
    v.left > 0 ? left - v.left : Infinity,
    v.top > 0 ? top - v.top : Infinity,
    v.left + v.columns * v.step < image.width ? v.left + v.columns * v.step - right : Infinity,
    v.top + v.rows * v.step < image.height ? v.top + v.rows * v.step - bottom : Infinity,
  );
  let holding: View | undefined;
  for (const view of views.slice(1).filter((v) => v.step === finestStep)) {
    if (room(view) > CUT_MARGIN * view.step && (!holding || room(view) > room(holding))) holding = view;
  }
  const wholeSees = boxes.every((b) => b.width >= minFaceAtInput * whole.step);
  if (wholeSees) return holding ? [whole, holding] : [whole];
  return holding && [holding];
}

/** The views searched: the whole image, then the pyramid's tiles (with `rectangles`, a frame's finest level as one `frameView`). */
export function searchViews(width: number, height: number, config: Pick<DetectorConfig, 'minFaceSize' | 'minFaceAtInput' | 'padding'>, rectangles: boolean): View[] {
  const tiles = tileViews(width, height, config);
  const frame = rectangles ? frameView(width, height, tiles) : undefined;
  return [wholeImageView(width, height, config.padding), ...(frame ? [frame, ...tiles.filter((v) => v.step !== frame.step)] : tiles)];
}

/** A tile's detection touching a tile edge inside the image is a cut face, found whole by a neighbour. */
function cutByTile(face: DetectedFace, view: View, width: number, height: number): boolean {
  const right = view.left + view.step * view.columns;
  const bottom = view.top + view.step * view.rows;
  const margin = view.step * CUT_MARGIN;
  const { x, y, width: w, height: h } = face.box;
  return (x < view.left + margin && view.left > 0)
    || (y < view.top + margin && view.top > 0)
    || (x + w > right - margin && right < width)
    || (y + h > bottom - margin && bottom < height);
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
  if (typeof config.frameViews !== 'boolean') throw invalidOption('detector frameViews', 'true or false', config.frameViews);
}

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

/** Raw detections per view on TF.js; the graph's input is pinned to batch 1, so views run one by one. */
async function detectInViewsTfjs(model: GraphModel, image: RgbImage, views: View[], minScore: number): Promise<DetectedFace[][]> {
  checkSize(image);
  const found: DetectedFace[][] = [];
  const input = new Float32Array(INPUT_SIZE * INPUT_SIZE * 3);
  for (const view of views) {
    if (view.columns !== INPUT_SIZE || view.rows !== INPUT_SIZE) throw new Error('internal error: the TF.js BlazeFace runs square views only');
    writeViewInput(image, view, input);
    const rows = tf.tidy(() => runBlazeFace(model, tf.tensor4d(input, [1, INPUT_SIZE, INPUT_SIZE, 3])));
    const data = (await rows.data()) as Float32Array;
    rows.dispose();
    found.push(decodeBlazeFace(data, view, minScore));
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
  const { ort } = typeof runtime === 'object' ? runtime : await chooseRuntime(runtime);
  const modelsDir = full.modelsDir ?? humanModelsDir();
  let anySizeBytes: Promise<Uint8Array> | undefined;
  const anySize = (): Promise<Uint8Array> => (anySizeBytes ??= cachedBlazeFaceOnnx(modelsDir, { anySize: true }));
  const square = ort ? await cachedBlazeFaceOnnx(modelsDir) : undefined;
  // every core within a run, asleep between runs: a lone frame's three views took 0.77x the wall time of two sleeping threads
  const session = square ? await BlazeFaceSessions.open(ort!, square, anySize, { spinning: 'in-runs' }) : undefined;
  // the TF.js graph only where TF.js runs it
  const model = session ? undefined : await loadHumanModel('blazeface', full.modelsDir);
  const detectInViews = (image: RgbImage, views: View[], minScore: number): Promise<DetectedFace[][]> =>
    model ? detectInViewsTfjs(model, image, views, minScore) : detectInViewsOnnx(session!, image, views, minScore);
  const facesInViews = async (image: RgbImage, views: View[]): Promise<DetectedFace[]> => {
    const finestStep = Math.min(...views.map((v) => v.step));
    const found = await detectInViews(image, views, full.minScore);
    const candidates = found.flatMap((faces, i) => faces.filter((f) => !cutByTile(f, views[i]!, image.width, image.height) && !betterSeenFiner(f, views[i]!, finestStep, full.minFaceAtInput)));
    return nonMaxSuppression(candidates, full.iouThreshold).sort((a, b) => boxArea(b) - boxArea(a));
  };
  // the source searched at its search size, and its faces back in the source's pixels
  const searched = async (source: RgbImage, viewsAt: (image: RgbImage) => View[] | undefined): Promise<DetectedFace[] | undefined> => {
    const image = await shrinkTo(source, searchSide(source.width, source.height, full));
    const views = viewsAt(image);
    if (!views) return undefined;
    const found = await facesInViews(image, views);
    const scaled = image === source ? found : found.map((f) => scaleFace(f, source.width / image.width, source.height / image.height));
    const faces = scaled.filter((f) => f.box.width >= full.minFaceFraction * Math.min(source.width, source.height));
    return full.maxFaces > 0 ? faces.slice(0, full.maxFaces) : faces;
  };
  const detectorWith = (config: Readonly<DetectorConfig>, dispose: () => void): FaceDetector => {
    const viewsOf = (image: RgbImage): View[] => searchViews(image.width, image.height, config, config.frameViews && session !== undefined);
    let framed: FaceDetector | undefined;
    const detector: FaceDetector = {
      config,
      searchSide: (width, height) => searchSide(width, height, config),
      detect: async (source) => (await searched(source, viewsOf))!,
      detectAround: (source, faces) => searched(source, (image) => {
        const shrink = image.width / source.width;
        return viewsFor(faces.map((f) => scaleFace(f, shrink, shrink).box), viewsOf(image), image, config.minFaceAtInput);
      }),
      framed: () => (config.frameViews || !session ? detector : (framed ??= detectorWith(Object.freeze({ ...config, frameViews: true }), () => undefined))),
      dispose,
    };
    return detector;
  };
  return detectorWith(Object.freeze(full), () => {
    session?.release();
    model?.dispose();
  });
}
