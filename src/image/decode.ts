import { readFile } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { decode as decodeBmp } from 'bmp-ts';
import { FacetrainError } from '../errors.js';
import { headerDimensions, type Dimensions } from './dimensions.js';
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
  /**
   * Shrink so the longer side is at most this many pixels, while decoding: sharp's shrink-on-load
   * decodes a JPEG or WebP at 1/2, 1/4 or 1/8 scale directly, so memory follows the decoded size.
   * A function is given the stored size (from the header) and says the longer side for it.
   */
  maxSide?: number | ((stored: Dimensions) => number);
}

/** A rectangle of whole pixels. */
export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** A decoded image and how much it was shrunk: source pixel = decoded pixel * `scale`. */
export interface ScaledImage {
  image: RgbImage;
  scale: number;
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

function unreadable(label: string, err: unknown): FacetrainError {
  const reason = (err as Error).message.replace(/^Input (buffer|file) (contains|has) /, '').split('\n')[0];
  return new FacetrainError('FT_ERR_IMAGE', `${label}: not a readable image (${reason}); remove it or replace it with a JPEG or PNG`, { cause: err });
}

/**
 * Decodes any supported image (JPEG, PNG incl. RGBA/16-bit, WebP, GIF, TIFF, AVIF, BMP, PGM/PPM)
 * to 8-bit RGB with EXIF orientation applied and transparency flattened onto white, shrunk to
 * `maxSide` when asked. The pixel limit is applied to the header before any pixel is decoded.
 * @throws FacetrainError FT_ERR_IMAGE naming `label` when the bytes are not a readable image or too large.
 */
export async function decodeImageScaled(bytes: Uint8Array, label = 'image', options: DecodeOptions = {}): Promise<ScaledImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const stored = await headerDimensions(bytes);
  if (stored && stored.width * stored.height > maxPixels) {
    const pixels = stored.width * stored.height;
    throw new FacetrainError('FT_ERR_IMAGE', `${label}: not a readable image (${stored.width}x${stored.height} is ${pixels} pixels, more than the limit of ${maxPixels}); use a smaller photo`);
  }
  try {
    let pipeline = toSharp(bytes, maxPixels).rotate();
    const maxSide = typeof options.maxSide === 'function' && stored ? options.maxSide(stored) : options.maxSide;
    if (typeof maxSide === 'number') pipeline = pipeline.resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true });
    const { data, info } = await pipeline
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const image = { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
    const storedSide = stored ? Math.max(stored.width, stored.height) : Math.max(info.width, info.height);
    return { image, scale: storedSide / Math.max(info.width, info.height) };
  } catch (err) {
    throw unreadable(label, err);
  }
}

/**
 * `region` of the image as decoded at `size` (oriented, at most its stored size; `'stored'`: the
 * stored size itself, no resampling), shrunk on load as `decodeImageScaled` shrinks: the pixels a
 * whole decode at `size` has there, without holding the rest (a JPEG stops decoding below the region).
 * @throws FacetrainError FT_ERR_IMAGE naming `label`, as `decodeImageScaled`.
 */
export async function decodeRegion(bytes: Uint8Array, label: string, size: Dimensions | 'stored', region: Region, options: Omit<DecodeOptions, 'maxSide'> = {}): Promise<RgbImage> {
  try {
    const oriented = toSharp(bytes, options.maxPixels ?? DEFAULT_MAX_PIXELS).rotate();
    const { data, info } = await (size === 'stored' ? oriented : oriented.resize(size.width, size.height, { fit: 'fill' }))
      .extract(region)
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (err) {
    throw unreadable(label, err);
  }
}

/** `decodeImageScaled` at full size. */
export async function decodeImage(bytes: Uint8Array, label = 'image', options: Omit<DecodeOptions, 'maxSide'> = {}): Promise<RgbImage> {
  return (await decodeImageScaled(bytes, label, { maxPixels: options.maxPixels })).image;
}

/** The bytes of an image file, to decode later (e.g. shrunk on load by `Recognizer.predict`). */
export async function readImageBytes(file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (err) {
    throw new FacetrainError('FT_ERR_IMAGE', `${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the path`, { cause: err });
  }
}

export async function readImageFile(file: string, options?: DecodeOptions): Promise<RgbImage> {
  return decodeImage(await readImageBytes(file), file, options);
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
