import path from 'node:path';
import type { SkippedPhoto } from '../events.js';
import type { RgbImage } from '../image/decode.js';
import { readImageFile } from '../image/decode.js';
import { FacetrainError } from '../util/errors.js';
import type { Photo } from './scan.js';

/** Turns a decoded photo into the crop the base takes, or explains why it cannot. */
export type Cropper = (image: RgbImage, file: string) => Promise<RgbImage>;

export interface PreparedPhoto extends Photo {
  crop: RgbImage;
}

/** Decodes and crops every photo; unreadable ones are reported and skipped, never fatal. */
export async function preparePhotos(
  photos: Photo[],
  crop: Cropper,
  onSkip: (s: SkippedPhoto) => void,
  onProgress?: (done: number) => void,
): Promise<PreparedPhoto[]> {
  const prepared: PreparedPhoto[] = [];
  for (const [i, photo] of photos.entries()) {
    try {
      prepared.push({ ...photo, crop: await crop(await readImageFile(photo.file), photo.file) });
    } catch (err) {
      if (!(err instanceof FacetrainError)) throw err;
      onSkip({ file: photo.file, reason: err.message.replace(`${photo.file}: `, '') });
    }
    onProgress?.(i + 1);
  }
  return prepared;
}

/** At least two people, each with a usable training photo; the error names the folder to fix. */
export function checkPeople(trainRoot: string, people: string[], train: PreparedPhoto[]): void {
  if (people.length < 2) {
    throw new FacetrainError('FT_ERR_DATASET', `${trainRoot}: found ${people.length} person folder(s); put each person's photos in their own sub-folder (at least 2 people)`);
  }
  const withPhotos = new Set(train.map((p) => p.person));
  const empty = people.filter((p) => !withPhotos.has(p));
  if (empty.length > 0) {
    throw new FacetrainError('FT_ERR_DATASET', `${path.join(trainRoot, empty[0]!)}: no usable training photo for ${empty.join(', ')}; add readable photos or remove the folder`);
  }
}
