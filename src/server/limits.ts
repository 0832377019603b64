import { headerDimensions, megapixels } from '../image/dimensions.js';
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

/**
 * Refuses decompression bombs from the header alone (a one-colour 20000x20000 PNG is a few KB
 * on the wire but 1.2 GB decoded), netpbm included: a 17-byte PGM header can claim 49 MP.
 */
export async function checkPixelLimit(bytes: Uint8Array, maxPixels: number, label: string): Promise<void> {
  checkPixelCount(await headerDimensions(bytes), maxPixels, label);
}

/** `checkPixelLimit` on dimensions already read from the header. */
export function checkPixelCount(dims: { width: number; height: number } | undefined, maxPixels: number, label: string): void {
  if (dims && dims.width * dims.height > maxPixels) {
    throw new HttpError(
      'FT_ERR_TOO_MANY_PIXELS',
      `${label}: ${dims.width}x${dims.height} is ${megapixels(dims.width * dims.height)}, more than this server's limit of ${megapixels(maxPixels)}; send a smaller photo`,
    );
  }
}
