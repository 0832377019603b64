import { mkdir, readdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { train } from '../../src/api/train.js';
import { FIVE_CELEBRITIES, MOBILENET_035_DIR, tempDir } from './shared.js';

export interface TinyModel {
  /** Temp folder holding data/ and model/; removed when the test process exits. */
  root: string;
  modelDir: string;
  people: string[];
  /** Training photos used per person, by person. */
  photos: Record<string, string[]>;
}

/** The first `count` training photos of a five-celebrities person, sorted by name. */
export async function celebrityPhotos(person: string, count: number, split: 'train' | 'val' = 'train'): Promise<string[]> {
  const dir = path.join(FIVE_CELEBRITIES, split, person);
  return (await readdir(dir)).sort().slice(0, count).map((f) => path.join(dir, f));
}

/**
 * Trains a small real recognizer on a few five-celebrities people, symlinked into a temp folder:
 * by default the whole-image classic one (frozen MobileNetV2 0.35 + head, no fine-tuning, which the
 * page can also run in the browser), or a face-embedding one that can enrol and forget people.
 * Either takes a few seconds on the wasm backend.
 */
export async function trainTinyModel(people: string[], { photosPerPerson = 6, epochs = 2, base = 'mobilenetv2' as 'mobilenetv2' | 'faceres' | 'mobilefacenet' } = {}): Promise<TinyModel> {
  const root = await tempDir('tiny');
  const photos: Record<string, string[]> = {};
  for (const person of people) {
    await mkdir(path.join(root, 'data', person), { recursive: true });
    photos[person] = await celebrityPhotos(person, photosPerPerson);
    for (const file of photos[person]!) await symlink(file, path.join(root, 'data', person, path.basename(file)));
  }
  const modelDir = path.join(root, 'model');
  const recipe = base === 'mobilenetv2' ? { base, detect: false, weights: MOBILENET_035_DIR, epochs, fineTuneEpochs: 0 } : { base };
  await train({ dataDir: path.join(root, 'data'), outDir: modelDir, ...recipe, augment: false, force: true });
  return { root, modelDir, people, photos };
}
