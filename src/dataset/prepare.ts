import path from 'node:path';
import type { SkippedPhoto } from '../events.js';
import type { RgbImage } from '../image/decode.js';
import { readImageFile, resizeSquare } from '../image/decode.js';
import { FacetrainError } from '../errors.js';
import type { Photo } from './scan.js';

export interface Cropped {
  /** What the base takes: an aligned face, or the whole photo, size x size. */
  crop: RgbImage;
  /** Faces found in the photo (1 when detection is off). */
  faces: number;
  /** The cropped face's box in the photo's pixels (absent for whole photos). */
  box?: { x: number; y: number; width: number; height: number };
}

/** Turns a decoded photo into the crop the base takes, or throws FT_ERR_IMAGE saying why it cannot. */
export type Cropper = (image: RgbImage, file: string) => Promise<Cropped>;

export function wholeImageCropper(size: number): Cropper {
  return async (image) => ({ crop: await resizeSquare(image, size), faces: 1 });
}

export interface PreparedPhoto extends Photo, Cropped {}

/** A skip reason without the file name the error message starts with. */
export function skipReason(err: FacetrainError, file: string): string {
  return err.message.startsWith(`${file}: `) ? err.message.slice(file.length + 2) : err.message;
}

/** Decodes and crops every photo; unreadable ones (and ones without a face) are reported and skipped, never fatal. */
export async function preparePhotos(
  photos: Photo[],
  crop: Cropper,
  onSkip: (s: SkippedPhoto) => void,
  onProgress?: (done: number) => void,
): Promise<PreparedPhoto[]> {
  const prepared: PreparedPhoto[] = [];
  for (const [i, photo] of photos.entries()) {
    try {
      prepared.push({ ...photo, ...(await crop(await readImageFile(photo.file), photo.file)) });
    } catch (err) {
      if (!(err instanceof FacetrainError)) throw err;
      onSkip({ file: photo.file, reason: skipReason(err, photo.file) });
    }
    onProgress?.(i + 1);
  }
  return prepared;
}

/** At least two people, each with a usable training photo; the error names the folder to fix. */
export function checkPeople(trainRoot: string, people: string[], train: { person: string }[]): void {
  if (people.length < 2) {
    throw new FacetrainError('FT_ERR_DATASET', `${trainRoot}: found ${people.length} person folder(s); put each person's photos in their own sub-folder (at least 2 people)`);
  }
  const withPhotos = new Set(train.map((p) => p.person));
  const empty = people.filter((p) => !withPhotos.has(p));
  if (empty.length > 0) {
    throw new FacetrainError('FT_ERR_DATASET', `${path.join(trainRoot, empty[0]!)}: no usable training photo for ${empty.join(', ')}; add readable photos or remove the folder`);
  }
}
