import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';

/**
 * A camera frame for Chromium's fake capture device (`--use-file-for-fake-video-capture`), made
 * from photos with sharp: no video file or tool in the repository. Chromium reads a .y4m as 4:2:0
 * BT.601 limited-range video and plays it in a loop; `frameAsCaptured` is the RGB frame after that
 * round trip, the image the page recognizes, so a test compares with predict on the same pixels.
 */

export const FRAME_WIDTH = 640;
export const FRAME_HEIGHT = 480;

/** The photos side by side on a black 640x480 frame, each fitted into its share of the width. */
export async function composeFrame(photos: string[]): Promise<Buffer> {
  const width = Math.floor(FRAME_WIDTH / photos.length);
  const parts = await Promise.all(photos.map((photo) => sharp(photo).rotate().resize(width, FRAME_HEIGHT, { fit: 'contain', background: '#000000' }).removeAlpha().png().toBuffer()));
  return sharp({ create: { width: FRAME_WIDTH, height: FRAME_HEIGHT, channels: 3, background: '#000000' } })
    .composite(parts.map((input, i) => ({ input, left: i * width, top: 0 })))
    .removeAlpha()
    .raw()
    .toBuffer();
}

const clampByte = (v: number): number => Math.max(0, Math.min(255, Math.round(v)));

/** RGB (0..255) -> BT.601 limited-range Y, Cb, Cr planes, chroma averaged over 2x2 pixels. */
function toI420(rgb: Buffer): { y: Uint8Array; u: Uint8Array; v: Uint8Array } {
  const [w, h] = [FRAME_WIDTH, FRAME_HEIGHT];
  const y = new Uint8Array(w * h);
  const u = new Uint8Array((w / 2) * (h / 2));
  const v = new Uint8Array((w / 2) * (h / 2));
  for (let i = 0; i < w * h; i++) {
    const [r, g, b] = [rgb[i * 3]! / 255, rgb[i * 3 + 1]! / 255, rgb[i * 3 + 2]! / 255];
    y[i] = clampByte(16 + 65.481 * r + 128.553 * g + 24.966 * b);
  }
  for (let cy = 0; cy < h / 2; cy++) {
    for (let cx = 0; cx < w / 2; cx++) {
      let [cb, cr] = [0, 0];
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]] as const) {
        const i = (cy * 2 + dy) * w + cx * 2 + dx;
        const [r, g, b] = [rgb[i * 3]! / 255, rgb[i * 3 + 1]! / 255, rgb[i * 3 + 2]! / 255];
        cb += 128 - 37.797 * r - 74.203 * g + 112 * b;
        cr += 128 + 112 * r - 93.786 * g - 18.214 * b;
      }
      u[cy * (w / 2) + cx] = clampByte(cb / 4);
      v[cy * (w / 2) + cx] = clampByte(cr / 4);
    }
  }
  return { y, u, v };
}

/** The frame as the page sees it: the I420 planes back to RGB (nearest chroma), as a PNG. */
export async function frameAsCaptured(rgb: Buffer): Promise<Buffer> {
  const { y, u, v } = toI420(rgb);
  const out = Buffer.alloc(rgb.length);
  for (let row = 0; row < FRAME_HEIGHT; row++) {
    for (let col = 0; col < FRAME_WIDTH; col++) {
      const i = row * FRAME_WIDTH + col;
      const c = (row >> 1) * (FRAME_WIDTH / 2) + (col >> 1);
      const [luma, cb, cr] = [1.164 * (y[i]! - 16), u[c]! - 128, v[c]! - 128];
      out[i * 3] = clampByte(luma + 1.596 * cr);
      out[i * 3 + 1] = clampByte(luma - 0.392 * cb - 0.813 * cr);
      out[i * 3 + 2] = clampByte(luma + 2.017 * cb);
    }
  }
  return sharp(out, { raw: { width: FRAME_WIDTH, height: FRAME_HEIGHT, channels: 3 } }).png().toBuffer();
}

/** Writes the frame as a one-frame .y4m (Chromium loops it): the fake camera's file. */
export async function writeY4m(file: string, rgb: Buffer): Promise<void> {
  const { y, u, v } = toI420(rgb);
  const header = Buffer.from(`YUV4MPEG2 W${FRAME_WIDTH} H${FRAME_HEIGHT} F10:1 Ip A1:1 C420jpeg\nFRAME\n`, 'ascii');
  await writeFile(file, Buffer.concat([header, y, u, v]));
}
