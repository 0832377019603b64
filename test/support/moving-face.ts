import sharp from 'sharp';
import type { RgbImage } from '../../src/image/decode.js';

export interface MovingFaceOptions {
  /** Longer side of the pasted photo, in pixels of the frame. */
  photoSide: number;
  frames?: number;
  width?: number;
  height?: number;
}

/**
 * Camera-like frames of a shared photo walking past: the photo shrunk to `photoSide`, pasted on a
 * grey `width` x `height` canvas (default 640x480), moving left to right and bobbing up and down.
 */
export async function movingFaceFrames(photo: string, { photoSide, frames = 24, width = 640, height = 480 }: MovingFaceOptions): Promise<RgbImage[]> {
  const pasted = await sharp(photo).rotate().resize(photoSide, photoSide, { fit: 'inside' }).removeAlpha().toBuffer({ resolveWithObject: true });
  return Promise.all(Array.from({ length: frames }, async (_, f) => {
    const left = Math.round((Math.max(0, width - pasted.info.width) * f) / Math.max(1, frames - 1));
    const top = Math.round(Math.max(0, height - pasted.info.height) * (0.3 + 0.4 * Math.sin(f / 4)));
    const data = await sharp({ create: { width, height, channels: 3, background: { r: 128, g: 120, b: 110 } } })
      .composite([{ input: pasted.data, left, top }])
      .removeAlpha()
      .raw()
      .toBuffer();
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
  }));
}
