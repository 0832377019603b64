import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile, stat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { FacetrainError } from '../errors.js';

/** Writes a file so that readers see the old content or the new, never a half-written one. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function pathExists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function isNonEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length > 0;
  } catch {
    return false;
  }
}

/**
 * Builds a whole directory in a sibling temp folder, then swaps it in, so an interrupted run
 * never leaves a half-written model and an existing one is replaced only with `force`.
 */
export async function writeDirAtomic(
  dir: string,
  fill: (tmpDir: string) => Promise<void>,
  { force = false }: { force?: boolean } = {},
): Promise<void> {
  const target = path.resolve(dir);
  if (!force && (await isNonEmptyDir(target))) {
    throw new FacetrainError('FT_ERR_EXISTS', `${dir} already exists and is not empty; choose another --out or pass --force to replace it`);
  }
  await mkdir(path.dirname(target), { recursive: true });
  const suffix = randomBytes(6).toString('hex');
  const tmp = `${target}.${suffix}.tmp`;
  const old = `${target}.${suffix}.old`;
  await mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
    if (await pathExists(target)) await rename(target, old);
    await rename(tmp, target);
    await rm(old, { recursive: true, force: true });
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
