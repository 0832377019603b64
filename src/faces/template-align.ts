import type { RgbImage } from '../image/decode.js';
import { invalidOption } from '../errors.js';
import { type Affine, warpAffine } from './align.js';
import { LANDMARK, type DetectedFace } from './detect.js';
import type { Point } from './geometry.js';

/**
 * Where ArcFace-style embeddings (InsightFace, MobileFaceNet) were trained to find the five points
 * in a 112x112 crop: image-left eye, image-right eye, nose tip, image-left and image-right mouth corner.
 */
export const ARCFACE_TEMPLATE_112: readonly Point[] = Object.freeze([
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
]);

/**
 * BlazeFace gives the mouth centre, not its corners: its eyes, nose and mouth are matched to the
 * template's eyes, nose and the midpoint of its mouth corners (the ears are too unreliable to use).
 */
export function blazeFacePointPairs(face: DetectedFace, template: readonly Point[], size: number): { from: Point[]; to: Point[] } {
  const scale = size / 112;
  const at = (p: Point): Point => [p[0] * scale, p[1] * scale];
  const [leftEye, rightEye, nose, leftMouth, rightMouth] = template.map(at) as [Point, Point, Point, Point, Point];
  const mouth: Point = [(leftMouth[0] + rightMouth[0]) / 2, (leftMouth[1] + rightMouth[1]) / 2];
  const l = face.landmarks;
  return {
    from: [l[LANDMARK.imageLeftEye]!, l[LANDMARK.imageRightEye]!, l[LANDMARK.nose]!, l[LANDMARK.mouth]!],
    to: [leftEye, rightEye, nose, mouth],
  };
}

/**
 * The least-squares similarity transform (rotation, uniform scale, shift; no reflection) taking
 * `from` onto `to` (Umeyama's closed form for 2-D points).
 */
export function similarityTransform(from: readonly Point[], to: readonly Point[]): Affine {
  if (from.length !== to.length || from.length < 2) throw invalidOption('alignment points', 'two or more matched points', from.length);
  const mean = (ps: readonly Point[]): Point => [ps.reduce((s, p) => s + p[0], 0) / ps.length, ps.reduce((s, p) => s + p[1], 0) / ps.length];
  const [fx, fy] = mean(from);
  const [tx, ty] = mean(to);
  let dot = 0;
  let cross = 0;
  let norm = 0;
  from.forEach(([x0, y0], i) => {
    const x = x0 - fx;
    const y = y0 - fy;
    const u = to[i]![0] - tx;
    const v = to[i]![1] - ty;
    dot += x * u + y * v;
    cross += x * v - y * u;
    norm += x * x + y * y;
  });
  if (!(norm > 0)) throw invalidOption('alignment points', 'distinct face landmarks', 'all at one place');
  const a = dot / norm;
  const b = cross / norm;
  // u = a x - b y + c, v = b x + a y + f
  return { a, b: -b, c: tx - (a * fx - b * fy), d: b, e: a, f: ty - (b * fx + a * fy) };
}

/**
 * The face warped so its landmarks sit on `template` (given for 112x112) scaled to `size`: its five
 * points when a landmark model found them (in the template's order), else BlazeFace's four.
 */
export function alignToTemplate(image: RgbImage, face: DetectedFace, size: number, fivePoints?: readonly Point[], template: readonly Point[] = ARCFACE_TEMPLATE_112): RgbImage {
  if (!(Number.isInteger(size) && size > 0)) throw invalidOption('aligned face size', 'a positive whole number of pixels', size);
  const { from, to } = fivePoints ? { from: fivePoints, to: template.map(([x, y]): Point => [(x * size) / 112, (y * size) / 112]) } : blazeFacePointPairs(face, template, size);
  return warpAffine(image, similarityTransform(from, to), size);
}
