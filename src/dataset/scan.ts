import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { FacetrainError } from '../errors.js';
import { checkPersonName } from './person-name.js';
import { childSeed, createRandom, shuffled } from '../util/random.js';

export interface Photo {
  file: string;
  person: string;
}

export interface DatasetSplit {
  people: string[];
  train: Photo[];
  val: Photo[];
  /** true when the folder had train/ and val/ sub-folders. */
  explicitSplit: boolean;
  /** Where the training people's folders are (the root, or its train/). */
  trainRoot: string;
}

export interface SplitOptions {
  /** Fraction of each person's photos held out for validation when there is no explicit split. */
  valSplit: number;
  seed: number;
}

const VAL_DIR_NAMES = ['val', 'validation'];

/** Photos that match nobody, as `facetrain cluster` leaves them: not a person, so never a label. */
export const UNSORTED_DIR = 'unsorted';

/** Sub-folders of `dir`, following symbolic links (people often link their photo folders in). */
async function listDirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const isDir = async (e: Dirent) => e.isDirectory() || (e.isSymbolicLink() && (await stat(path.join(dir, e.name)).catch(() => undefined))?.isDirectory() === true);
  const dirs: string[] = [];
  for (const e of entries) if (!e.name.startsWith('.') && (await isDir(e))) dirs.push(e.name);
  return dirs.sort();
}

/** The non-hidden files directly in `dir`, sorted. */
export async function scanFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith('.'))
    .map((e) => path.join(dir, e.name))
    .sort();
}

/** Every non-hidden file under `dir` at any depth (hidden folders and the folder `exclude` skipped, linked folders followed), sorted. */
export async function scanFilesDeep(dir: string, exclude?: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (current: string): Promise<void> => {
    if (exclude !== undefined && path.resolve(current) === exclude) return;
    for (const entry of await readdir(current, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(current, entry.name);
      const info = entry.isSymbolicLink() ? await stat(full).catch(() => undefined) : entry;
      if (info?.isDirectory()) await walk(full);
      else if (info?.isFile()) found.push(full);
    }
  };
  await walk(dir);
  return found.sort();
}

/** Reads `root/<person>/<file>`; every non-hidden file is a candidate photo (decoding decides). */
export async function scanPeople(root: string): Promise<Map<string, string[]>> {
  let names: string[];
  try {
    names = (await listDirs(root)).filter((name) => name !== UNSORTED_DIR);
  } catch (err) {
    throw new FacetrainError('FT_ERR_DATASET', `${root}: cannot read the dataset folder (${(err as NodeJS.ErrnoException).code}); pass a folder with one sub-folder of photos per person`, { cause: err });
  }
  const people = new Map<string, string[]>();
  for (const name of names) people.set(name, await scanFiles(path.join(root, name)));
  return people;
}

async function findExplicitSplit(root: string): Promise<{ train: string; val: string } | undefined> {
  const dirs = await listDirs(root).catch(() => [] as string[]);
  const val = VAL_DIR_NAMES.find((n) => dirs.includes(n));
  return dirs.includes('train') && val ? { train: path.join(root, 'train'), val: path.join(root, val) } : undefined;
}

/** Training people's folder names are their labels: each must follow the person-name rule. */
function checkedPeople(root: string, people: Map<string, string[]>): Map<string, string[]> {
  const checked = new Map<string, string[]>();
  for (const [folder, files] of people) {
    const name = checkPersonName(folder, path.join(root, folder));
    if (checked.has(name)) throw new FacetrainError('FT_ERR_DATASET', `${path.join(root, folder)}: another folder is also named ${JSON.stringify(name)} once trimmed; merge or rename one`);
    checked.set(name, files);
  }
  return checked;
}

function toPhotos(people: Map<string, string[]>): Photo[] {
  return [...people].flatMap(([person, files]) => files.map((file) => ({ file, person })));
}

/** Per-person (stratified) split: the same seed always holds out the same photos. */
export function splitPhotos(people: Map<string, string[]>, { valSplit, seed }: SplitOptions): { train: Photo[]; val: Photo[] } {
  const train: Photo[] = [];
  const val: Photo[] = [];
  for (const [person, files] of people) {
    const order = shuffled(files, createRandom(childSeed(seed, `split:${person}`)));
    const valCount = files.length < 2 ? 0 : Math.min(files.length - 1, Math.round(files.length * valSplit));
    order.forEach((file, i) => (i < valCount ? val : train).push({ file, person }));
  }
  return { train, val };
}

/**
 * Finds the people and splits their photos: an explicit `train/` + `val/` layout is used as is,
 * otherwise each person's photos are split with `valSplit`.
 */
export async function loadDatasetSplit(root: string, options: SplitOptions): Promise<DatasetSplit> {
  const explicit = await findExplicitSplit(root);
  if (explicit) {
    const trainPeople = checkedPeople(explicit.train, await scanPeople(explicit.train));
    const valPeople = checkedPeople(explicit.val, await scanPeople(explicit.val));
    const unknownInVal = [...valPeople.keys()].filter((p) => !trainPeople.has(p));
    if (unknownInVal.length > 0) {
      throw new FacetrainError('FT_ERR_DATASET', `${explicit.val}: ${unknownInVal.join(', ')} appear only in the validation folder; add their photos to ${explicit.train} too`);
    }
    return { people: [...trainPeople.keys()], train: toPhotos(trainPeople), val: toPhotos(valPeople), explicitSplit: true, trainRoot: explicit.train };
  }
  const people = checkedPeople(root, await scanPeople(root));
  return { people: [...people.keys()], ...splitPhotos(people, options), explicitSplit: false, trainRoot: root };
}
