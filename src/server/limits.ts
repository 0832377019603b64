import sharp from 'sharp';
import { HttpError } from './http-error.js';

/**
 * Admits at most `capacity` recognitions at once and refuses the rest immediately: under overload
 * clients get a fast 503 with Retry-After instead of an ever-growing queue of decoded photos.
 */
export class AdmissionGate {
  private active = 0;
  constructor(readonly capacity: number) {}

  get inFlight(): number {
    return this.active;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.capacity) {
      throw new HttpError('FT_ERR_BUSY', `the server is busy with ${this.active} recognitions; retry in a second`, { 'retry-after': '1' });
    }
    this.active++;
    try {
      return await work();
    } finally {
      this.active--;
    }
  }
}

/** Runs critical sections one after another, in arrival order. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** Width and height from a BMP header, which libvips cannot read. */
function bmpDimensions(bytes: Uint8Array): { width: number; height: number } | undefined {
  if (bytes.length < 26 || bytes[0] !== 0x42 || bytes[1] !== 0x4d) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true)) };
}

/** Header dimensions without decoding pixels; undefined when no reader knows the format (decoding will then say why). */
async function headerDimensions(bytes: Uint8Array): Promise<{ width: number; height: number } | undefined> {
  const bmp = bmpDimensions(bytes);
  if (bmp) return bmp;
  try {
    const { width, height } = await sharp(bytes, { limitInputPixels: false }).metadata();
    return width && height ? { width, height } : undefined;
  } catch {
    return undefined;
  }
}

function megapixels(pixels: number): string {
  return `${(pixels / 1e6).toFixed(pixels < 1e6 ? 2 : 0)} MP`;
}

/**
 * Refuses decompression bombs from the header alone (a one-colour 20000x20000 PNG is a few KB
 * on the wire but 1.2 GB decoded). Formats without a readable header here are uncompressed
 * (PGM/PPM), so the body size limit already bounds them.
 */
export async function checkPixelLimit(bytes: Uint8Array, maxPixels: number, label: string): Promise<void> {
  const dims = await headerDimensions(bytes);
  if (dims && dims.width * dims.height > maxPixels) {
    throw new HttpError(
      'FT_ERR_TOO_MANY_PIXELS',
      `${label}: ${dims.width}x${dims.height} is ${megapixels(dims.width * dims.height)}, more than this server's limit of ${megapixels(maxPixels)}; send a smaller photo`,
    );
  }
}
