import { stat } from 'node:fs/promises';
import path from 'node:path';
import { scanFilesDeep } from '../dataset/scan.js';
import { FacetrainError } from '../errors.js';

/** A photo given on the command line and its name relative to the folder it was found in, without extension. */
export interface PhotoArg {
  file: string;
  name: string;
}

const stem = (file: string): string => file.slice(0, file.length - path.extname(file).length);

/**
 * The photos a command was given: files as they are, folders searched at any depth (a folder of
 * per-person sub-folders included). A folder with no file at all is an error saying so, not silence.
 */
export async function photoArgs(targets: string[]): Promise<PhotoArg[]> {
  const photos: PhotoArg[] = [];
  for (const target of targets) {
    const info = await stat(target).catch(() => {
      throw new FacetrainError('FT_ERR_IMAGE', `${target}: no such file or folder; pass an image or a folder of images`);
    });
    if (!info.isDirectory()) {
      photos.push({ file: target, name: stem(path.basename(target)) });
      continue;
    }
    const found = await scanFilesDeep(target);
    if (found.length === 0) throw new FacetrainError('FT_ERR_IMAGE', `${target}: no photo found (the folder and its sub-folders hold no file other than hidden ones); pass a folder of images`);
    photos.push(...found.map((file) => ({ file, name: stem(path.relative(target, file)) })));
  }
  return photos;
}

export async function photoFiles(targets: string[]): Promise<string[]> {
  return (await photoArgs(targets)).map((p) => p.file);
}
