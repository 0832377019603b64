import { readdir, symlink, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createRandom, shuffled } from '../../src/util/random.js';
import { sharedPath } from './shared.js';

/** A photo dump made of labelled shared sets with the labels removed, and the truth kept aside. */
export interface PhotoMix {
  dir: string;
  /** Person (set/folder) of each photo, by its path relative to `dir` with '/' separators. */
  truth: Map<string, string>;
  people: number;
}

async function people(root: string, keep: (name: string, files: string[]) => boolean): Promise<[string, string[]][]> {
  const out: [string, string[]][] = [];
  for (const name of (await readdir(root)).sort()) {
    const files = (await readdir(path.join(root, name), { withFileTypes: true }).catch(() => [])).filter((e) => e.isFile()).map((e) => path.join(root, name, e.name));
    if (files.length > 0 && keep(name, files)) out.push([name, files.sort()]);
  }
  return out;
}

/**
 * bbt (8 people), five-celebrities train + val (5), ORL s1-s10 (10) and every LFW-pairs person with
 * at least 4 photos, linked under anonymous names in shuffled order into nested folders of `dir`.
 */
export async function buildPhotoMix(dir: string, seed = 1): Promise<PhotoMix> {
  const celebrities = new Map<string, string[]>();
  for (const split of ['train', 'val']) {
    for (const [name, files] of await people(sharedPath('datasets', 'five-celebrities', split), () => true)) celebrities.set(name, [...(celebrities.get(name) ?? []), ...files]);
  }
  const sources: [string, [string, string[]][]][] = [
    ['bbt', await people(sharedPath('datasets', 'bbt'), () => true)],
    ['celebrities', [...celebrities]],
    ['orl', await people(sharedPath('datasets', 'orl'), (name) => /^s([1-9]|10)$/.test(name))],
    ['lfw', await people(sharedPath('datasets', 'lfw-pairs', 'images'), (_, files) => files.length >= 4)],
  ];
  const photos = sources.flatMap(([set, list]) => list.flatMap(([name, files]) => files.map((file) => ({ file, person: `${set}/${name}` }))));
  const truth = new Map<string, string>();
  const order = shuffled(photos, createRandom(seed));
  for (const [i, { file, person }] of order.entries()) {
    // two levels of folders, so the dump is read recursively
    const relative = `roll-${i % 3}/${i % 2 === 0 ? 'day/' : ''}${String(i).padStart(4, '0')}${path.extname(file)}`;
    await mkdir(path.join(dir, path.dirname(relative)), { recursive: true });
    await symlink(file, path.join(dir, relative));
    truth.set(relative, person);
  }
  return { dir, truth, people: new Set(photos.map((p) => p.person)).size };
}
