import type { RgbImage } from '../image/decode.js';
import type { Random } from '../util/random.js';

/** One random view: mirror, shift and zoom about the centre, brightness scale (Keras ImageDataGenerator-like, mild). */
export interface Jitter {
  flip: boolean;
  /** Shift as a fraction of the side. */
  dx: number;
  dy: number;
  zoom: number;
  brightness: number;
}

export const IDENTITY_JITTER: Jitter = Object.freeze({ flip: false, dx: 0, dy: 0, zoom: 1, brightness: 1 });

export function randomJitter(random: Random): Jitter {
  const between = (lo: number, hi: number) => lo + (hi - lo) * random();
  return { flip: random() < 0.5, dx: between(-0.08, 0.08), dy: between(-0.08, 0.08), zoom: between(0.9, 1.1), brightness: between(0.8, 1.2) };
}

/** Views for one photo: the original first, then jittered copies; the first jitter always mirrors. */
export function viewJitters(count: number, random: Random): Jitter[] {
  const views = [IDENTITY_JITTER];
  for (let i = 1; i < count; i++) views.push(i === 1 ? { ...randomJitter(random), flip: true } : randomJitter(random));
  return views;
}

/** Bilinear resampling with edge clamping; cheap at 224x224 and free of native round trips. */
export function applyJitter(image: RgbImage, jitter: Jitter): RgbImage {
  if (jitter === IDENTITY_JITTER) return image;
  const { width: w, height: h, data: src } = image;
  const out = new Uint8Array(src.length);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  for (let y = 0; y < h; y++) {
    const sy = Math.min(h - 1, Math.max(0, (y - cy) / jitter.zoom + cy - jitter.dy * h));
    const y0 = Math.floor(sy);
    const y1 = Math.min(h - 1, y0 + 1);
    const fy = sy - y0;
    for (let x = 0; x < w; x++) {
      const ux = jitter.flip ? w - 1 - x : x;
      const sx = Math.min(w - 1, Math.max(0, (ux - cx) / jitter.zoom + cx - jitter.dx * w));
      const x0 = Math.floor(sx);
      const x1 = Math.min(w - 1, x0 + 1);
      const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const top = src[(y0 * w + x0) * 3 + c]! * (1 - fx) + src[(y0 * w + x1) * 3 + c]! * fx;
        const bottom = src[(y1 * w + x0) * 3 + c]! * (1 - fx) + src[(y1 * w + x1) * 3 + c]! * fx;
        out[(y * w + x) * 3 + c] = Math.min(255, Math.round((top * (1 - fy) + bottom * fy) * jitter.brightness));
      }
    }
  }
  return { data: out, width: w, height: h };
}
