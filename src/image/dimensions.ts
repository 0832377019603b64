import sharp from 'sharp';
import { isNetpbm, readNetpbmHeader } from './netpbm.js';

export interface Dimensions {
  width: number;
  height: number;
}

/** Width and height from a BMP header, which libvips cannot read. */
function bmpDimensions(bytes: Uint8Array): Dimensions | undefined {
  if (bytes.length < 26 || bytes[0] !== 0x42 || bytes[1] !== 0x4d) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true)) };
}

/**
 * Stored width and height from the header alone, for every format facetrain decodes (netpbm and BMP
 * by hand, the rest by libvips' header readers); undefined when no reader knows the bytes (decoding
 * will then say why). `oriented` gives them as decoded, i.e. after EXIF orientation.
 */
export async function headerDimensions(bytes: Uint8Array, { oriented = false } = {}): Promise<Dimensions | undefined> {
  try {
    if (isNetpbm(bytes)) return readNetpbmHeader(bytes);
    const bmp = bmpDimensions(bytes);
    if (bmp) return bmp;
    const { width, height, orientation } = await sharp(bytes, { limitInputPixels: false }).metadata();
    if (!width || !height) return undefined;
    // EXIF orientations 5-8 turn the photo a quarter: decoded, it is height x width.
    return oriented && orientation !== undefined && orientation >= 5 ? { width: height, height: width } : { width, height };
  } catch {
    return undefined;
  }
}

export function megapixels(pixels: number): string {
  return `${(pixels / 1e6).toFixed(pixels < 1e6 ? 2 : 0)} MP`;
}
