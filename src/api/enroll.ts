import { copyFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TRAIN_DEFAULTS, type TrainConfig } from '../config.js';
import { initEngine } from '../tfjs/backend.js';
import { BASE_ROWS } from '../base/index.js';
import type { EmbeddingBaseRow } from '../base/row.js';
import { embedderOn } from '../recognize/onnx-engine.js';
import { chooseRuntime } from '../runtime/choose.js';
import type { RuntimeName } from '../runtime/runtime.js';
import { fileSystemIO } from '../tfjs/model-io.js';
import type { SkippedPhoto } from '../events.js';
import { cropperFor, detectorFor } from '../faces/cropper.js';
import { GALLERY_FILE, hashBytes, readGallery, type Gallery, type GalleryEntry } from '../model-dir/gallery.js';
import { EVAL_FILE, LABELS_FILE, MANIFEST_FILE, REPORT_FILE, labelsText, readManifest, type ModelManifest } from '../model-dir/manifest.js';
import { embedPhotos, trainEmbeddingHead } from '../train/embedding.js';
import { FacetrainError } from '../errors.js';
import { writeDirAtomic } from '../util/fs.js';

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
    throw new FacetrainError('FT_ERR_UNSUPPORTED', `${modelDir}: only models with a face-embedding base can add or forget people without retraining; retrain with --base faceres, or retrain this one with the new photos`);
  }
  return { manifest, gallery, base };
}

/**
 * Retrains only the Dense head on the gallery's cached embeddings (about a second) and swaps the
 * whole model directory in at once. Reports and evaluations of the old set of people are dropped:
 * they would be stale, and after a forget they would still show that person's faces.
 */
async function rewriteModel(modelDir: string, manifest: ModelManifest, gallery: Gallery): Promise<void> {
  const config = recipeOf(manifest);
  const train = gallery.entries.filter((e) => e.split === 'train');
  const val = gallery.entries.filter((e) => e.split === 'val' && manifest.labels.includes(e.person));
  const { head } = trainEmbeddingHead(train, val, manifest.labels, config, () => {});
  const keep = (await readdir(modelDir)).filter((f) => ![EVAL_FILE, REPORT_FILE, GALLERY_FILE, LABELS_FILE, MANIFEST_FILE, 'model.json', 'weights.bin'].includes(f));
  await writeDirAtomic(
    modelDir,
    async (dir) => {
      for (const f of keep) await copyFile(path.join(modelDir, f), path.join(dir, f));
      await head.save(fileSystemIO(dir));
      await writeFile(path.join(dir, GALLERY_FILE), JSON.stringify(gallery));
      await writeFile(path.join(dir, LABELS_FILE), labelsText(manifest.labels));
      await writeFile(path.join(dir, MANIFEST_FILE), JSON.stringify({ ...manifest, updatedAt: new Date().toISOString() }, null, 2));
    },
    { force: true },
  );
  head.dispose();
}

/** Adds photos of `name` (a new or known person) to a model and updates it in seconds. */
export async function enrollPerson(modelDir: string, name: string, photos: EnrollPhoto[], options: EnrollOptions = {}): Promise<EnrollResult> {
  await initEngine();
  const { manifest, gallery, base } = await galleryModel(modelDir);
  const runtime = await chooseRuntime(options.engine);
  const detector = await detectorFor(manifest.input, runtime);
  const embedder = await embedderOn(runtime, await base.loadEmbedder());
  const skipped: SkippedPhoto[] = [];
  const byFile = new Map(photos.map((p) => [p.file, p.bytes]));
  const config = recipeOf(manifest);
  try {
    const known = new Set(gallery.entries.map((e) => e.hash));
    const fresh = photos.filter((p) => !known.has(hashBytes(p.bytes)));
    const alreadyKnown = photos.length - fresh.length;
    const added: GalleryEntry[] = await embedPhotos(
      fresh.map((p) => ({ file: p.file, person: name })),
      'train',
      {
        embedder,
        crop: cropperFor(manifest.input, detector),
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
    await rewriteModel(modelDir, { ...manifest, labels }, { ...gallery, entries: [...gallery.entries, ...added] });
    return { added: added.length, alreadyKnown, skipped };
  } finally {
    embedder.dispose();
    detector?.dispose();
  }
}

/** Removes a person completely: their embeddings, their label, and reports that show them. */
export async function forgetPerson(modelDir: string, name: string): Promise<void> {
  await initEngine();
  const { manifest, gallery } = await galleryModel(modelDir);
  if (!manifest.labels.includes(name)) throw new FacetrainError('FT_ERR_DATASET', `${modelDir}: no person named ${name}; known: ${manifest.labels.join(', ')}`);
  const labels = manifest.labels.filter((l) => l !== name);
  if (labels.length === 0) throw new FacetrainError('FT_ERR_DATASET', `${modelDir}: ${name} is the only person left; delete the model directory instead`);
  await rewriteModel(modelDir, { ...manifest, labels }, { ...gallery, entries: gallery.entries.filter((e) => e.person !== name) });
}

/** The people a model knows, in class order. */
export async function listPeople(modelDir: string): Promise<string[]> {
  return (await readManifest(modelDir)).labels;
}
