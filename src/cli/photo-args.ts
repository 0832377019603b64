import { stat } from 'node:fs/promises';
import { scanFilesDeep } from '../dataset/scan.js';
import { FacetrainError } from '../errors.js';

/**
 * The photos a command was given: files as they are, folders searched at any depth (a folder of
 * per-person sub-folders included). A folder with no file at all is an error saying so, not silence.
 */
export async function photoFiles(targets: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const target of targets) {
    const info = await stat(target).catch(() => {
      throw new FacetrainError('FT_ERR_IMAGE', `${target}: no such file or folder; pass an image or a folder of images`);
    });
    if (!info.isDirectory()) {
      files.push(target);
      continue;
    }
    const found = await scanFilesDeep(target);
    if (found.length === 0) throw new FacetrainError('FT_ERR_IMAGE', `${target}: no photo found (the folder and its sub-folders hold no file other than hidden ones); pass a folder of images`);
    files.push(...found);
  }
  return files;
}
