import { readdir, symlink, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { bcubed, type BCubed } from '../../src/cluster/bcubed.js';
import type { ClusterResult } from '../../src/api/cluster.js';
import { UNSORTED_DIR } from '../../src/dataset/scan.js';
import { createRandom, shuffled } from '../../src/util/random.js';
import { sharedPath } from './shared.js';

/** A photo dump made of labelled shared sets with the labels removed, and the truth kept aside. */
export interface PhotoMix {
  dir: string;
  /** Person (set/folder) of each photo, by its path relative to `dir` with '/' separators. */
  truth: Map<string, string>;
  people: number;
  /** Unlabelled group photos (bbt-scenes) linked in too, by relative path: several people each. */
  scenes: string[];
  /** Photos whose label is about the face at this point (LFW: its 250x250 images are centred on the named person), not the largest face. */
  subjectAt: Map<string, [number, number]>;
}

/** LFW images are 250x250 crops centred on the person they are named after; other faces may be larger. */
const LFW_CENTRE: [number, number] = [125, 125];

/** One person in two sets. */
const SAME_PERSON = new Map([['lfw/Ben_Affleck', 'celebrities/ben_afflek']]);

async function peopleOf(root: string, keep: (name: string, files: string[]) => boolean): Promise<[string, string[]][]> {
  const out: [string, string[]][] = [];
  for (const name of (await readdir(root)).sort()) {
    const files = (await readdir(path.join(root, name), { withFileTypes: true }).catch(() => [])).filter((e) => e.isFile()).map((e) => path.join(root, name, e.name));
    if (files.length > 0 && keep(name, files)) out.push([name, files.sort()]);
  }
  return out;
}

/** Which people of the shared sets a mix holds (besides bbt and five-celebrities, always in). */
export interface MixPeople {
  /** ORL's subjects s<first> to s<last>. */
  orl: [number, number];
  /** Yale's 15 subjects (greyscale, 11 lightings and expressions each). */
  yale: boolean;
  /** LFW-pairs people with at least this many photos. */
  lfwMinPhotos: number;
}

/** The mix the tests use: ORL s1-s10, LFW people with >= 4 photos, no Yale (470 photos of 67 people). */
export const SHARED_MIX: MixPeople = { orl: [1, 10], yale: false, lfwMinPhotos: 4 };

/**
 * bbt (8 people), five-celebrities train + val (5), the ORL, Yale and LFW-pairs people `people`
 * names, linked under anonymous names in an order shuffled by `seed` into nested folders of `dir`;
 * plus the bbt scene photos, whose faces have no label.
 */
export async function buildPhotoMix(dir: string, seed = 1, people: MixPeople = SHARED_MIX): Promise<PhotoMix> {
  const celebrities = new Map<string, string[]>();
  for (const split of ['train', 'val']) {
    for (const [name, files] of await peopleOf(sharedPath('datasets', 'five-celebrities', split), () => true)) celebrities.set(name, [...(celebrities.get(name) ?? []), ...files]);
  }
  const [first, last] = people.orl;
  const sources: [string, [string, string[]][]][] = [
    ['bbt', await peopleOf(sharedPath('datasets', 'bbt'), () => true)],
    ['celebrities', [...celebrities]],
    ['orl', await peopleOf(sharedPath('datasets', 'orl'), (name) => /^s\d+$/.test(name) && Number(name.slice(1)) >= first && Number(name.slice(1)) <= last)],
    ['yale', people.yale ? await peopleOf(sharedPath('datasets', 'yale'), () => true) : []],
    ['lfw', await peopleOf(sharedPath('datasets', 'lfw-pairs', 'images'), (_, files) => files.length >= people.lfwMinPhotos)],
  ];
  const photos = sources.flatMap(([set, list]) => list.flatMap(([name, files]) => files.map((file) => ({ file, person: SAME_PERSON.get(`${set}/${name}`) ?? `${set}/${name}` }))));
  const truth = new Map<string, string>();
  const subjectAt = new Map<string, [number, number]>();
  const order = shuffled(photos, createRandom(seed));
  for (const [i, { file, person }] of order.entries()) {
    // two levels of folders, so the dump is read recursively
    const relative = `roll-${i % 3}/${i % 2 === 0 ? 'day/' : ''}${String(i).padStart(4, '0')}${path.extname(file)}`;
    await mkdir(path.join(dir, path.dirname(relative)), { recursive: true });
    await symlink(file, path.join(dir, relative));
    truth.set(relative, person);
    if (file.includes(`${path.sep}lfw-pairs${path.sep}`)) subjectAt.set(relative, LFW_CENTRE);
  }
  const scenes: string[] = [];
  for (const file of (await readdir(sharedPath('datasets', 'bbt-scenes'))).sort()) {
    const relative = `scenes/${file}`;
    await mkdir(path.join(dir, 'scenes'), { recursive: true });
    await symlink(sharedPath('datasets', 'bbt-scenes', file), path.join(dir, relative));
    scenes.push(relative);
  }
  return { dir, truth, people: new Set(photos.map((p) => p.person)).size, scenes, subjectAt };
}

export interface MixScore extends BCubed {
  /** Labelled photos in which a face was found. */
  photosWithFace: number;
  /** People with >= 3 photos, and how many of them have all their faces in one group. */
  peopleWith3Photos: number;
  whole: number;
}

/** The face a labelled photo's label is about: the one nearest its subject point when it has one, else the largest. */
function labelledFaces(mix: PhotoMix, faces: ClusterResult['faces']): ClusterResult['faces'] {
  const byPhoto = new Map<string, ClusterResult['faces']>();
  for (const f of faces) if (mix.truth.has(f.photo)) byPhoto.set(f.photo, [...(byPhoto.get(f.photo) ?? []), f]);
  return [...byPhoto].map(([photo, list]) => {
    const at = mix.subjectAt.get(photo);
    if (!at) return list.find((f) => f.face === 0)!;
    const distance = (f: ClusterResult['faces'][number]) => Math.hypot(f.box.x + f.box.width / 2 - at[0], f.box.y + f.box.height / 2 - at[1]);
    return list.reduce((best, f) => (distance(f) < distance(best) ? f : best));
  });
}

/** The label of each of `faces` (in its order): the person of its photo for the face that label is about, undefined for the others. */
export function faceLabels(mix: PhotoMix, faces: ClusterResult['faces']): (string | undefined)[] {
  const labelled = new Set(labelledFaces(mix, faces));
  return faces.map((f) => (labelled.has(f) ? mix.truth.get(f.photo) : undefined));
}

/**
 * Scores the group of the labelled face of each labelled photo (other faces in it have no label)
 * against the truth; an unsorted face counts as a group of its own.
 */
export function scoreClustering(mix: PhotoMix, result: ClusterResult): MixScore {
  const labelled = labelledFaces(mix, result.faces);
  const groups = labelled.map((f) => (f.group === UNSORTED_DIR ? `${UNSORTED_DIR}:${f.photo}` : f.group));
  const labels = labelled.map((f) => mix.truth.get(f.photo)!);
  const groupsOf = new Map<string, Set<string>>();
  labels.forEach((label, i) => groupsOf.set(label, (groupsOf.get(label) ?? new Set()).add(groups[i]!)));
  const photosOf = new Map<string, number>();
  for (const label of labels) photosOf.set(label, (photosOf.get(label) ?? 0) + 1);
  const people = [...photosOf].filter(([, n]) => n >= 3).map(([label]) => label);
  return {
    ...bcubed(groups, labels),
    photosWithFace: labelled.length,
    peopleWith3Photos: people.length,
    whole: people.filter((p) => groupsOf.get(p)!.size === 1).length,
  };
}
