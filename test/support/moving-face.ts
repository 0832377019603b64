import sharp from 'sharp';
import type { RgbImage } from '../../src/image/decode.js';

export interface MovingFaceOptions {
  /** Longer side of the pasted photo, in pixels of the frame. */
  photoSide: number;
  frames?: number;
  width?: number;
  height?: number;
  /** A second photo, the same size, walking the other way (right to left, bobbing in opposite phase). */
  companion?: string;
}

/**
 * Camera-like frames of a shared photo walking past: the photo shrunk to `photoSide`, pasted on a
 * grey `width` x `height` canvas (default 640x480), moving left to right and bobbing up and down
 * (and a companion photo walking the other way).
 */
export async function movingFaceFrames(photo: string, { photoSide, frames = 24, width = 640, height = 480, companion }: MovingFaceOptions): Promise<RgbImage[]> {
  const shrunk = (file: string) => sharp(file).rotate().resize(photoSide, photoSide, { fit: 'inside' }).removeAlpha().toBuffer({ resolveWithObject: true });
  const walkers = [{ pasted: await shrunk(photo), way: 1 }, ...(companion ? [{ pasted: await shrunk(companion), way: -1 }] : [])];
  return Promise.all(Array.from({ length: frames }, async (_, f) => {
    const data = await sharp({ create: { width, height, channels: 3, background: { r: 128, g: 120, b: 110 } } })
      .composite(walkers.map(({ pasted, way }) => ({
        input: pasted.data,
        left: Math.round((Math.max(0, width - pasted.info.width) * (way > 0 ? f : frames - 1 - f)) / Math.max(1, frames - 1)),
        top: Math.round(Math.max(0, height - pasted.info.height) * (0.3 + 0.4 * way * Math.sin(f / 4))),
      })))
      .removeAlpha()
      .raw()
      .toBuffer();
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
  }));
}
