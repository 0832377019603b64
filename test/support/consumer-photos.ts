import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { FIVE_CELEBRITIES, sharedPath } from './shared.js';

/** Files of a folder, sorted, without hidden ones. */
export async function filesIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => !f.startsWith('.')).sort().map((f) => path.join(dir, f));
}

/** The photos export consumers are compared with predict on: known people (five-celebrities val), strangers (two photos of each bbt person) and group scenes of strangers. */
export async function mixedPhotos(): Promise<string[]> {
  const known = (await Promise.all((await filesIn(path.join(FIVE_CELEBRITIES, 'val'))).map(filesIn))).flat();
  const strangers = (await Promise.all((await filesIn(sharedPath('datasets', 'bbt'))).map(async (d) => (await filesIn(d)).slice(0, 2)))).flat();
  const scenes = (await filesIn(sharedPath('datasets', 'bbt-scenes'))).filter((f) => /bbt\d\.jpg$/.test(f));
  return [...known, ...strangers, ...scenes];
}
