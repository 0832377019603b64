import { copyFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TrainConfig } from '../config.js';
import { initEngine } from '../tfjs/backend.js';
import { BASE_ROWS, TRAIN_DEFAULTS } from '../base/index.js';
import type { EmbeddingBaseRow } from '../base/row.js';
import { EMBEDDING_BASES, unknownThreshold } from '../recognize/embedding-base.js';
import { facePipelineOn } from '../recognize/face-pipeline.js';
import { chooseRuntime } from '../runtime/choose.js';
import type { RuntimeName } from '../runtime/runtime.js';
import { WEIGHTS_FILE, fileSystemIO } from '../tfjs/model-io.js';
import type { SkippedPhoto } from '../events.js';
import { GALLERY_FILE, hashBytes, personGalleries, readGallery, type Gallery, type GalleryEntry } from '../model-dir/gallery.js';
import { EVAL_FILE, LABELS_FILE, MANIFEST_FILE, REPORT_FILE, labelsText, readManifest, type ModelManifest } from '../model-dir/manifest.js';
import { embedPhotos, trainEmbeddingHead } from '../train/embedding.js';
import { FacetrainError } from '../errors.js';
import { writeDirAtomic, type SwapStep } from '../util/fs.js';
import { checkPersonName } from '../dataset/person-name.js';

export interface EnrollPhoto {
  file: string;
  bytes: Uint8Array;
}

export interface EnrollResult {
  added: number;
  /** Photos whose exact bytes the model already has (sending one again changes nothing). */
  alreadyKnown: number;
  skipped: SkippedPhoto[];
}

export interface EnrollOptions {
  /** Refuse photos with more pixels than this (decompression bombs). */
  maxPixels?: number;
  /** Runtime for FaceRes; default onnxruntime when installed. */
  engine?: RuntimeName;
  /** Called right after each step of the model-directory swap (the crash tests stop the process there). */
  onSwapStep?: (step: SwapStep) => void;
}

/** The recipe the model was trained with (its head is retrained with the same settings). */
function recipeOf(manifest: ModelManifest): TrainConfig {
  return { ...TRAIN_DEFAULTS, ...(manifest.config as Partial<TrainConfig>) } as TrainConfig;
}

async function galleryModel(modelDir: string): Promise<{ manifest: ModelManifest; gallery: Gallery; base: EmbeddingBaseRow }> {
  const manifest = await readManifest(modelDir);
  const base = BASE_ROWS[manifest.base.name];
  const gallery = base.kind === 'embedding' ? await readGallery(modelDir) : undefined;
  if (!gallery || base.kind !== 'embedding') {
    throw new FacetrainError('FT_ERR_UNSUPPORTED', `${modelDir}: only models with a face-embedding base can add or forget people without retraining; retrain on one (\`base\` ${EMBEDDING_BASES.join(' or ')}), or retrain this one with the new photos`);
  }
  return { manifest, gallery, base };
}

/**
 * Retrains only the Dense head on the gallery's cached embeddings (about a second) and swaps the
 * whole model directory in at once. Reports, evaluations and exports of the old set of people are
 * dropped: they would be stale, and after a forget they would still show or recognize that person.
 */
async function rewriteModel(modelDir: string, base: EmbeddingBaseRow, manifest: ModelManifest, gallery: Gallery, onSwapStep?: (step: SwapStep) => void): Promise<void> {
  const config = recipeOf(manifest);
  const train = gallery.entries.filter((e) => e.split === 'train');
  const val = gallery.entries.filter((e) => e.split === 'val' && manifest.labels.includes(e.person));
  const { head } = await trainEmbeddingHead(train, val, manifest.labels, config, () => {});
  // only the user's own files are carried over; exports are dropped like reports: after a forget they would still recognize the person
  const rewritten = [EVAL_FILE, REPORT_FILE, GALLERY_FILE, LABELS_FILE, MANIFEST_FILE, 'model.json', WEIGHTS_FILE];
  const keep = (await readdir(modelDir, { withFileTypes: true })).filter((e) => e.isFile() && !rewritten.includes(e.name)).map((e) => e.name);
  await writeDirAtomic(
    modelDir,
    async (dir) => {
      for (const f of keep) await copyFile(path.join(modelDir, f), path.join(dir, f));
      await head.save(fileSystemIO(dir));
      await writeFile(path.join(dir, GALLERY_FILE), JSON.stringify(gallery));
      await writeFile(path.join(dir, LABELS_FILE), labelsText(manifest.labels));
      // the people changed, so the simulated strangers did too
      const threshold = unknownThreshold(personGalleries(train, manifest.labels), base, config.targetFar);
      await writeFile(path.join(dir, MANIFEST_FILE), JSON.stringify({ ...manifest, threshold, updatedAt: new Date().toISOString() }, null, 2));
    },
    { force: true, onStep: onSwapStep },
  );
  head.dispose();
}

/** Adds photos of `name` (a new or known person) to a model and updates it in seconds. */
export async function enrollPerson(modelDir: string, rawName: string, photos: EnrollPhoto[], options: EnrollOptions = {}): Promise<EnrollResult> {
  const name = checkPersonName(rawName, modelDir);
  await initEngine();
  const { manifest, gallery, base } = await galleryModel(modelDir);
  const runtime = await chooseRuntime(options.engine);
  const pipeline = await facePipelineOn(runtime, base, manifest.input);
  const skipped: SkippedPhoto[] = [];
  const config = recipeOf(manifest);
  try {
    const knownAs = new Map(gallery.entries.map((e) => [e.hash, e.person]));
    const fresh: EnrollPhoto[] = [];
    const usedNames = new Set<string>();
    let alreadyKnown = 0;
    for (const photo of photos) {
      const hash = hashBytes(photo.bytes);
      const owner = knownAs.get(hash);
      if (owner !== undefined && owner !== name) {
        throw new FacetrainError('FT_ERR_EXISTS', `${photo.file} is already enrolled as ${owner}; a photo can show only one person: forget ${owner} or leave the photo out`);
      }
      if (owner !== undefined) {
        alreadyKnown++;
        continue;
      }
      knownAs.set(hash, name);
      // two different photos sent under one file name (two cameras' IMG_0001.jpg) are both kept
      let file = photo.file;
      for (let n = 2; usedNames.has(file); n++) file = `${photo.file} (${n})`;
      usedNames.add(file);
      fresh.push({ file, bytes: photo.bytes });
    }
    const byFile = new Map(fresh.map((p) => [p.file, p.bytes]));
    const added: GalleryEntry[] = await embedPhotos(
      fresh.map((p) => ({ file: p.file, person: name })),
      'train',
      {
        embedder: pipeline.embedder,
        crop: pipeline.cropper,
        cache: new Map(),
        views: config.augment ? config.augmentViews : 1,
        seed: config.seed,
        onSkip: (s) => skipped.push(s),
        readBytes: (file) => byFile.get(file)!,
        maxPixels: options.maxPixels,
      },
    );
    if (added.length === 0 && fresh.length > 0) {
      throw new FacetrainError('FT_ERR_IMAGE', `no usable photo of ${name}${skipped[0] ? ` (${skipped[0].file}: ${skipped[0].reason})` : ''}; add photos that show the face clearly`);
    }
    if (added.length === 0) return { added: 0, alreadyKnown, skipped };
    const labels = manifest.labels.includes(name) ? manifest.labels : [...manifest.labels, name];
    await rewriteModel(modelDir, base, { ...manifest, labels }, { ...gallery, entries: [...gallery.entries, ...added] }, options.onSwapStep);
    return { added: added.length, alreadyKnown, skipped };
  } finally {
    pipeline.dispose();
  }
}

/** Removes a person completely: their embeddings, their label, and reports that show them. */
export async function forgetPerson(modelDir: string, name: string, options: Pick<EnrollOptions, 'onSwapStep'> = {}): Promise<void> {
  await initEngine();
  const { manifest, gallery, base } = await galleryModel(modelDir);
  if (!manifest.labels.includes(name)) throw new FacetrainError('FT_ERR_DATASET', `${modelDir}: no person named ${name}; known: ${manifest.labels.join(', ')}`);
  const labels = manifest.labels.filter((l) => l !== name);
  if (labels.length === 0) throw new FacetrainError('FT_ERR_DATASET', `${modelDir}: ${name} is the only person left; delete the model directory instead`);
  await rewriteModel(modelDir, base, { ...manifest, labels }, { ...gallery, entries: gallery.entries.filter((e) => e.person !== name) }, options.onSwapStep);
}

/** The people a model knows, in class order. */
export async function listPeople(modelDir: string): Promise<string[]> {
  return (await readManifest(modelDir)).labels;
}
