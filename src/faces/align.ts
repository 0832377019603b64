import type { RgbImage } from '../image/decode.js';
import { invalidOption } from '../errors.js';
import { LANDMARK, type DetectedFace } from './detect.js';
import type { Point } from './geometry.js';

export interface AlignConfig {
  /** Distance between the eyes in the aligned crop, as a fraction of its side. */
  eyeDistance: number;
  /** Height of the eye line in the aligned crop, as a fraction of its side from the top. */
  eyeY: number;
}

/** Measured on five-celebrities, bbt, ORL and Yale with FaceRes (see test/faces.test.ts). */
export const DEFAULT_ALIGN_CONFIG: Readonly<AlignConfig> = Object.freeze({ eyeDistance: 0.28, eyeY: 0.35 });

/** Maps source pixel (x, y) to aligned (a*x + b*y + c, d*x + e*y + f): a similarity transform. */
export interface Affine {
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
  f: number;
}

export function applyAffine(m: Affine, [x, y]: Point): Point {
  return [m.a * x + m.b * y + m.c, m.d * x + m.e * y + m.f];
}

function invertAffine(m: Affine): Affine {
  const det = m.a * m.e - m.b * m.d;
  const a = m.e / det;
  const b = -m.b / det;
  const d = -m.d / det;
  const e = m.a / det;
  return { a, b, c: -(a * m.c + b * m.f), d, e, f: -(d * m.c + e * m.f) };
}

/** Where the image-left and image-right eyes land in a `size` x `size` aligned crop. */
export function alignedEyePositions(size: number, config: AlignConfig = DEFAULT_ALIGN_CONFIG): [Point, Point] {
  const half = (config.eyeDistance * size) / 2;
  const y = config.eyeY * size;
  return [[size / 2 - half, y], [size / 2 + half, y]];
}

/**
 * The similarity transform that rotates the face around its eye midpoint until the eyes are level,
 * scales them `eyeDistance * size` apart and places them at `alignedEyePositions`.
 */
export function alignmentTransform(face: DetectedFace, size: number, config: AlignConfig = DEFAULT_ALIGN_CONFIG): Affine {
  const left = face.landmarks[LANDMARK.imageLeftEye];
  const right = face.landmarks[LANDMARK.imageRightEye];
  const dx = right[0] - left[0];
  const dy = right[1] - left[1];
  const eyeDist = Math.hypot(dx, dy);
  if (!(eyeDist > 0)) throw invalidOption('face landmarks', 'two distinct eye positions', `${left} and ${right}`);
  const scale = (config.eyeDistance * size) / eyeDist;
  const cos = (scale * dx) / eyeDist;
  const sin = (scale * dy) / eyeDist;
  // Rotation by -angle(eyes) then scale, mapping the eye midpoint to the target midpoint.
  const mid: Point = [(left[0] + right[0]) / 2, (left[1] + right[1]) / 2];
  const target: Point = [size / 2, config.eyeY * size];
  return {
    a: cos,
    b: sin,
    c: target[0] - (cos * mid[0] + sin * mid[1]),
    d: -sin,
    e: cos,
    f: target[1] - (-sin * mid[0] + cos * mid[1]),
  };
}

/**
 * Bilinear warp of `image` into a `size` x `size` crop through `transform` (source -> crop).
 * Outside the source the nearest edge pixel is repeated, so tight crops do not gain black borders.
 */
export function warpAffine(image: RgbImage, transform: Affine, size: number): RgbImage {
  const inv = invertAffine(transform);
  const out = new Uint8Array(size * size * 3);
  const { width, height, data } = image;
  const clampX = (x: number): number => (x < 0 ? 0 : x > width - 1 ? width - 1 : x);
  const clampY = (y: number): number => (y < 0 ? 0 : y > height - 1 ? height - 1 : y);
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      // Pixel centres: crop pixel (u, v) covers [u, u + 1); source index i sits at i + 0.5.
      const cu = u + 0.5;
      const cv = v + 0.5;
      const sx = clampX(inv.a * cu + inv.b * cv + inv.c - 0.5);
      const sy = clampY(inv.d * cu + inv.e * cv + inv.f - 0.5);
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = Math.min(x0 + 1, width - 1);
      const y1 = Math.min(y0 + 1, height - 1);
      const fx = sx - x0;
      const fy = sy - y0;
      const o = (v * size + u) * 3;
      for (let ch = 0; ch < 3; ch++) {
        const top = data[(y0 * width + x0) * 3 + ch] * (1 - fx) + data[(y0 * width + x1) * 3 + ch] * fx;
        const bottom = data[(y1 * width + x0) * 3 + ch] * (1 - fx) + data[(y1 * width + x1) * 3 + ch] * fx;
        out[o + ch] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
  return { data: out, width: size, height: size };
}

/** The face with its eyes level at `alignedEyePositions(size, config)`, as a `size` x `size` crop. */
export async function alignFace(image: RgbImage, face: DetectedFace, size: number, config: Partial<AlignConfig> = {}): Promise<RgbImage> {
  if (!(Number.isInteger(size) && size > 0)) throw invalidOption('aligned face size', 'a positive whole number of pixels', size);
  const full = { ...DEFAULT_ALIGN_CONFIG, ...config };
  return warpAffine(image, alignmentTransform(face, size, full), size);
}
