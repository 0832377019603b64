import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RgbImage } from '../image/decode.js';
import { createOnnxSession, type OnnxSession } from '../runtime/onnxruntime.js';
import type { OnnxRuntime } from '../runtime/runtime.js';
import type { DetectedFace } from './detect.js';
import type { Box, Point } from './geometry.js';
import { installedPackageFile } from '../util/package-file.js';

/**
 * faceplugin's 68-point landmark network, `model/fr_landmark.onnx` of the npm package
 * faceplugin-face-recognition-js 0.0.1 (MIT): a 64x64 grey crop of the face box in, the 68 points of
 * the iBUG 300-W scheme out, as fractions of the box (its own JavaScript feeds it this way).
 */
export const LANDMARK_PACKAGE = 'faceplugin-face-recognition-js';
export const LANDMARK_FILE = path.join('model', 'fr_landmark.onnx');
const LANDMARK_INPUT = 64;

export function landmarkModelPath(): string {
  return installedPackageFile(LANDMARK_PACKAGE, LANDMARK_FILE);
}

/**
 * The BlazeFace box grown to the face the landmark network was trained on (its own detector's box
 * reaches further down the chin than BlazeFace's), chosen on LFW pairs with `npm run accuracy`.
 */
export interface LandmarkCrop {
  /** Side multiplier around the box centre. */
  scale: number;
  /** Centre moved down by this fraction of the box height. */
  shiftDown: number;
}

export const DEFAULT_LANDMARK_CROP: Readonly<LandmarkCrop> = Object.freeze({ scale: 1, shiftDown: 0 });

/** 64x64 grey values (luma / 256) of `box`, sampled bilinearly (edge pixels repeated past the photo). */
function greyCrop(image: RgbImage, box: Box, out: Float32Array): void {
  const { width, height, data } = image;
  const sx = box.width / LANDMARK_INPUT;
  const sy = box.height / LANDMARK_INPUT;
  const clamp = (v: number, max: number): number => (v < 0 ? 0 : v > max ? max : v);
  for (let v = 0; v < LANDMARK_INPUT; v++) {
    const y = clamp(box.y + (v + 0.5) * sy - 0.5, height - 1);
    const y0 = Math.floor(y);
    const y1 = Math.min(y0 + 1, height - 1);
    const fy = y - y0;
    for (let u = 0; u < LANDMARK_INPUT; u++) {
      const x = clamp(box.x + (u + 0.5) * sx - 0.5, width - 1);
      const x0 = Math.floor(x);
      const x1 = Math.min(x0 + 1, width - 1);
      const fx = x - x0;
      const luma = (i: number): number => 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
      const top = luma((y0 * width + x0) * 3) * (1 - fx) + luma((y0 * width + x1) * 3) * fx;
      const bottom = luma((y1 * width + x0) * 3) * (1 - fx) + luma((y1 * width + x1) * 3) * fx;
      out[v * LANDMARK_INPUT + u] = (top * (1 - fy) + bottom * fy) / 256;
    }
  }
}

const mean = (points: Point[]): Point => [points.reduce((s, p) => s + p[0], 0) / points.length, points.reduce((s, p) => s + p[1], 0) / points.length];

/**
 * The five points of the ArcFace template from the 68 (as faceplugin reduces them): image-left and
 * image-right eye centres (the four eyelid points of each), nose tip, and each mouth corner
 * (outer and inner lip corner averaged).
 */
export function fivePointsOf68(points: Point[]): Point[] {
  const p = (i: number): Point => points[i]!;
  return [mean([p(37), p(38), p(40), p(41)]), mean([p(43), p(44), p(46), p(47)]), p(30), mean([p(48), p(60)]), mean([p(54), p(64)])];
}

/** Finds the five alignment points of detected faces. */
export interface FivePointLandmarker {
  fivePoints(image: RgbImage, faces: DetectedFace[]): Promise<Point[][]>;
  dispose(): void;
}

/** The landmark network on onnxruntime (about half a millisecond per face on one thread). */
export async function loadFivePointLandmarker(ort: OnnxRuntime, crop: LandmarkCrop = DEFAULT_LANDMARK_CROP): Promise<FivePointLandmarker> {
  const session: OnnxSession = await createOnnxSession(ort, new Uint8Array(await readFile(landmarkModelPath())), { threads: 1, spinning: 'never' });
  const pixels = LANDMARK_INPUT * LANDMARK_INPUT;
  return {
    async fivePoints(image, faces) {
      if (faces.length === 0) return [];
      const boxes = faces.map(({ box }) => {
        const w = box.width * crop.scale;
        const h = box.height * crop.scale;
        const cx = box.x + box.width / 2;
        const cy = box.y + box.height / 2 + crop.shiftDown * box.height;
        return { x: cx - w / 2, y: cy - h / 2, width: w, height: h };
      });
      const found: Point[][] = [];
      // the network takes one face per run (its batch dimension is fixed at 1)
      for (const box of boxes) {
        const input = new Float32Array(pixels);
        greyCrop(image, box, input);
        const [out] = await session.run(input, [1, 1, LANDMARK_INPUT, LANDMARK_INPUT]);
        const points: Point[] = [];
        for (let j = 0; j + 1 < out!.length; j += 2) points.push([box.x + out![j]! * box.width, box.y + out![j + 1]! * box.height]);
        found.push(fivePointsOf68(points));
      }
      return found;
    },
    dispose: () => session.release(),
  };
}
