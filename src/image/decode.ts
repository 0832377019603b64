import { readFile } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { decode as decodeBmp } from 'bmp-ts';
import { FacetrainError } from '../errors.js';
import { decodeNetpbm, isNetpbm } from './netpbm.js';

/** 8-bit RGB pixels, row-major, interleaved; the one image type every stage takes. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this (decompression bombs). */
  maxPixels?: number;
}

export const DEFAULT_MAX_PIXELS = 100_000_000;

function isBmp(bytes: Uint8Array): boolean {
  return bytes.length > 2 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

/** Formats sharp's prebuilt libvips cannot read are decoded to raw pixels first. */
function toSharp(bytes: Uint8Array, limitInputPixels: number): Sharp {
  if (isNetpbm(bytes)) {
    const { data, width, height, channels } = decodeNetpbm(bytes);
    return sharp(data, { raw: { width, height, channels } });
  }
  if (isBmp(bytes)) {
    // bmp-ts leaves alpha 0 for 24-bit files, so alpha is ignored: BMP transparency is rare.
    const { data, width, height } = decodeBmp(Buffer.from(bytes), { toRGBA: true });
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) rgb.set(data.subarray(i, i + 3), j);
    return sharp(rgb, { raw: { width, height, channels: 3 } });
  }
  // sniffing content, not the extension: a PNG named .jpg loads as a PNG.
  return sharp(bytes, { limitInputPixels, failOn: 'error' });
}

/**
 * Decodes any supported image (JPEG, PNG incl. RGBA/16-bit, WebP, GIF, TIFF, AVIF, BMP, PGM/PPM)
 * to 8-bit RGB with EXIF orientation applied and transparency flattened onto white.
 * @throws FacetrainError FT_ERR_IMAGE naming `label` when the bytes are not a readable image.
 */
export async function decodeImage(bytes: Uint8Array, label = 'image', options: DecodeOptions = {}): Promise<RgbImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  try {
    const { data, info } = await toSharp(bytes, maxPixels)
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.width * info.height > maxPixels) throw new Error(`image has ${info.width}x${info.height} pixels, more than the limit of ${maxPixels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (err) {
    const reason = (err as Error).message.replace(/^Input (buffer|file) (contains|has) /, '').split('\n')[0];
    throw new FacetrainError('FT_ERR_IMAGE', `${label}: not a readable image (${reason}); remove it or replace it with a JPEG or PNG`, { cause: err });
  }
}

export async function readImageFile(file: string, options?: DecodeOptions): Promise<RgbImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new FacetrainError('FT_ERR_IMAGE', `${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the path`, { cause: err });
  }
  return decodeImage(bytes, file, options);
}

/** Resizes to exactly size x size (stretching, as the Keras tutorial's image loader does). */
export async function resizeSquare(image: RgbImage, size: number): Promise<RgbImage> {
  if (image.width === size && image.height === size) return image;
  const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(size, size, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: size, height: size };
}
