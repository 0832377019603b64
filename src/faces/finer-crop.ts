import { decodeRegion, type DecodeOptions, type RgbImage } from '../image/decode.js';
import { headerDimensions } from '../image/dimensions.js';
import type { DetectedFace } from './detect.js';

/**
 * Around each face box, this many box sides on every side are decoded: an aligned crop spans about
 * 1.6 box sides (eyes 0.28 of the crop apart), 2.3 rotated, so the warp never reaches the region's
 * edge where the photo goes on (at the photo's own edge it repeats the edge pixel, as on a whole decode).
 */
const REGION_MARGIN = 2;

/** Faces in the pixels of an image `sx` x `sy` times as large, cut at (left, top). */
function faceInRegion(face: DetectedFace, sx: number, sy: number, left: number, top: number): DetectedFace {
  const { x, y, width, height } = face.box;
  return {
    box: { x: x * sx - left, y: y * sy - top, width: width * sx, height: height * sy },
    landmarks: face.landmarks.map(([px, py]) => [px * sx - left, py * sy - top]),
    score: face.score,
  };
}

/**
 * The pixels to align `faces` (found on `searched`, a shrunk decode of `bytes`) from: the region
 * around them of a decode `enlargement` times as large as `searched` (at most the stored size,
 * `scale` times), shrunk on load to that size, with the faces in its pixels. A face is cut from the
 * smallest decode that keeps it at the embedder's input size, and only its part of the photo is held.
 */
export async function finerCropSource(bytes: Uint8Array, searched: RgbImage, scale: number, faces: DetectedFace[], enlargement: number, options: DecodeOptions = {}): Promise<{ image: RgbImage; faces: DetectedFace[] }> {
  const factor = Math.min(enlargement, scale);
  // At the stored size, the photo is decoded as stored: a size rounded from `scale` (3023 of 3024 px)
  // made libvips resample all 12 MP for a one-pixel squeeze, twice the decode's CPU time.
  const stored = factor >= scale ? await headerDimensions(bytes, { oriented: true }) : undefined;
  const size = stored ?? { width: Math.min(Math.round(searched.width * scale), Math.ceil(searched.width * factor)), height: Math.min(Math.round(searched.height * scale), Math.ceil(searched.height * factor)) };
  const sx = size.width / searched.width;
  const sy = size.height / searched.height;
  const bounds = faces.map(({ box }) => {
    const margin = REGION_MARGIN * Math.max(box.width, box.height);
    return [(box.x - margin) * sx, (box.y - margin) * sy, (box.x + box.width + margin) * sx, (box.y + box.height + margin) * sy];
  });
  const left = Math.max(0, Math.floor(Math.min(...bounds.map((b) => b[0]!))));
  const top = Math.max(0, Math.floor(Math.min(...bounds.map((b) => b[1]!))));
  const right = Math.min(size.width, Math.ceil(Math.max(...bounds.map((b) => b[2]!))));
  const bottom = Math.min(size.height, Math.ceil(Math.max(...bounds.map((b) => b[3]!))));
  const image = await decodeRegion(bytes, 'image', stored ? 'stored' : size, { left, top, width: right - left, height: bottom - top }, { maxPixels: options.maxPixels });
  return { image, faces: faces.map((face) => faceInRegion(face, sx, sy, left, top)) };
}
