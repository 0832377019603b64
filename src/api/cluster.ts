import { copyFile, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderContactSheet } from '../cluster/contact-sheet.js';
import { CACHE_DIR, CACHE_FILE, readFaceCache, serializeFaceCache, type FaceCache } from '../cluster/face-cache.js';
import { thresholdForFaces } from '../cluster/dump-size.js';
import { groupFaces } from '../cluster/group-faces.js';
import type { NeighbourSearch } from '../cluster/nearest-neighbours.js';
import type { ClusteredFace, ClusterEmbedder, ClusterGroup, EmbeddedFace } from '../cluster/types.js';
import { TRAIN_DEFAULTS } from '../base/index.js';
import { checkRange, type BaseName, type NumberRange } from '../config.js';
import { skipReason } from '../dataset/prepare.js';
import { scanFilesDeep, UNSORTED_DIR } from '../dataset/scan.js';
import { FacetrainError } from '../errors.js';
import { UNKNOWN_LABEL } from '../evaluate/types.js';
import { iou } from '../faces/geometry.js';
import { matchNeighbours } from '../gallery/match.js';
import { openGallery } from '../gallery/open.js';
import type { GalleryStore } from '../gallery/store.js';
import { decodeImage, type RgbImage } from '../image/decode.js';
import { hashBytes } from '../model-dir/gallery.js';
import { readManifest } from '../model-dir/manifest.js';
import { loadRecognizer, type Recognizer } from '../recognize/recognizer.js';
import { chooseRuntime } from '../runtime/choose.js';
import type { RuntimeName } from '../runtime/runtime.js';
import { writeDirAtomic } from '../util/fs.js';
import { CLUSTER_BASE, loadClusterEmbedder } from './cluster-embedder.js';

export type { ClusteredFace, ClusterGroup } from '../cluster/types.js';

export const CONTACT_SHEET_FILE = 'index.html';
export const CLUSTERS_FILE = 'clusters.json';

export interface ClusterOptions {
  photosDir: string;
  outDir: string;
  /** Groups with fewer photos than this go to unsorted/. */
  minPhotos: number;
  /** Copy the photos instead of linking them. */
  copy: boolean;
  /** Replace a non-empty outDir (its cached embeddings are reused). */
  force: boolean;
  /** A facetrain model: faces of the people it knows are named, only the rest are grouped. */
  modelDir?: string;
  /** A gallery (gallery/open.ts URL): faces whose nearest template is close enough are named after its person, only the rest are grouped. */
  gallery?: string;
  /** The embedding base; default: see defaultBase. */
  base?: BaseName;
  engine?: RuntimeName;
  /** Orders the graph clustering's rounds: the same seed gives the same groups. */
  seed: number;
  /** How each face's nearest faces are found; `auto`: exactly below EXACT_BELOW faces, else from an HNSW index. */
  neighbourSearch?: NeighbourSearch;
}

export const CLUSTER_DEFAULTS = Object.freeze({ minPhotos: 3, copy: false, force: false, seed: 42 });

/** The range of each number of ClusterOptions, checked by clusterPhotos (and shown in the CLI's help). */
export const CLUSTER_RANGES: Readonly<Partial<Record<keyof ClusterOptions, NumberRange>>> = Object.freeze({
  minPhotos: { min: 1, max: 100_000, integer: true },
  seed: { min: 0, max: 2 ** 32 - 1, integer: true },
});

export type ClusterEvent =
  | { type: 'scan'; photos: number; cachedFaces: boolean }
  | { type: 'progress'; stage: 'faces'; done: number; total: number; photosPerSecond: number; etaSeconds: number }
  | { type: 'skip'; file: string; reason: string }
  | { type: 'group'; name: string; photos: number; faces: number; known: boolean }
  | { type: 'saved'; outDir: string; groups: number; known: number; faces: number; unsortedPhotos: number; photosWithoutFaces: number; ms: number };

export interface ClusterResult {
  outDir: string;
  groups: ClusterGroup[];
  /** Photos with a face that matched nobody, or no face at all. */
  unsorted: string[];
  faces: ClusteredFace[];
  skipped: { file: string; reason: string }[];
  /** Photos whose faces were taken from the cache of an earlier run. */
  cachedPhotos: number;
  /** The embedding base and the similarities the faces were grouped at. */
  rule: ClusterRule;
}

export interface ClusterRule {
  base: string;
  /** Faces grouped (those no model or gallery named): the thresholds rise above REFERENCE_FACES of them. */
  faces: number;
  linkSimilarity: number;
  joinSimilarity: number;
}

/** The base's link and join similarities for grouping `faces` faces (dump-size.ts: raised for many faces). */
function groupingRule(embedder: ClusterEmbedder, faces: number): ClusterRule {
  const at = (similarity: number) => thresholdForFaces(similarity, faces, embedder.strangerSimilarity);
  return { base: embedder.base, faces, linkSimilarity: at(embedder.linkSimilarity), joinSimilarity: at(embedder.joinSimilarity) };
}

async function checkFolders(options: ClusterOptions): Promise<void> {
  const info = await stat(options.photosDir).catch(() => undefined);
  if (!info?.isDirectory()) throw new FacetrainError('FT_ERR_DATASET', `${options.photosDir}: no such folder; pass the folder of photos to sort`);
  for (const [name, range] of Object.entries(CLUSTER_RANGES) as [keyof ClusterOptions, NumberRange][]) checkRange(name, options[name] as number, range);
  const photos = path.resolve(options.photosDir);
  const out = path.resolve(options.outDir);
  if (photos === out || photos.startsWith(`${out}${path.sep}`)) {
    throw new FacetrainError('FT_ERR_INVALID_OPTION', `\`outDir\` ${options.outDir} holds the photos being sorted (${options.photosDir}); choose a folder outside it`);
  }
  const existing = await readdir(options.outDir).catch(() => [] as string[]);
  if (existing.length > 0 && !options.force) {
    throw new FacetrainError('FT_ERR_EXISTS', `${options.outDir} already exists and is not empty; choose another \`outDir\` or pass \`force\` to replace it (its cached embeddings are reused)`);
  }
}

/** Names the faces a trained model knows: the recognizer's faces are matched to ours by box overlap. */
async function knownLabels(recognizer: Recognizer, image: RgbImage, faces: EmbeddedFace[]): Promise<(string | undefined)[]> {
  const named = (await recognizer.predict(image)).filter((r) => r.label !== UNKNOWN_LABEL);
  return faces.map((face) => {
    const match = named.find((r) => iou(r.box, face.box) >= 0.5);
    return match?.label;
  });
}

/** Names the faces whose nearest gallery template reaches `similarity` (the link rule: as sure as two faces linked in one group). */
async function galleryLabels(store: GalleryStore, faces: EmbeddedFace[], similarity: number): Promise<(string | undefined)[]> {
  return Promise.all(
    faces.map(async (face) => {
      const match = matchNeighbours(await store.nearest(face.embedding, 1), similarity, 1);
      return match.label === UNKNOWN_LABEL ? undefined : match.label;
    }),
  );
}

interface PhotoFaces {
  photo: string;
  file: string;
  faces: EmbeddedFace[];
  known: (string | undefined)[];
}

/**
 * The base faces are embedded with when none is given: with a gallery, the one its templates come
 * from (the model's base, else train's default, as `enroll` and `index` make them), else CLUSTER_BASE.
 */
async function defaultBase(options: ClusterOptions): Promise<BaseName> {
  if (!options.gallery) return CLUSTER_BASE;
  return options.modelDir ? (await readManifest(options.modelDir)).base.name : TRAIN_DEFAULTS.base;
}

/** Distinct photos in `faces`, in first-seen order. */
function photosOf(faces: { photo: string }[]): string[] {
  return [...new Set(faces.map((f) => f.photo))];
}

/** person-01, person-02, ...: as many as asked, skipping names a model already uses (a model trained on unrenamed folders). */
export function newGroupNames(count: number, taken: ReadonlySet<string>): string[] {
  const width = Math.max(2, String(count + taken.size).length);
  const names: string[] = [];
  for (let i = 1; names.length < count; i++) {
    const name = `person-${String(i).padStart(width, '0')}`;
    if (!taken.has(name)) names.push(name);
  }
  return names;
}

/** A file name unique in a group folder: the photo's path relative to the photos folder, flattened. */
export function linkName(photo: string): string {
  return photo.split('/').join('__');
}

/**
 * Sorts a folder of unlabelled photos into one folder per person: every face of every photo is
 * embedded, faces of people `modelDir` or `gallery` knows are named, the rest are grouped by
 * groupFaces (nearest neighbours, Chinese whispers, small groups joined to large ones, loosely tied faces re-placed) at the
 * base's verification thresholds, and `outDir` gets `person-01/`... (largest
 * first), `unsorted/`, `index.html`, `clusters.json` and the embedding cache.
 */
export async function clusterPhotos(input: Partial<ClusterOptions> & Pick<ClusterOptions, 'photosDir' | 'outDir'>, emit: (e: ClusterEvent) => void = () => {}, embedder?: ClusterEmbedder): Promise<ClusterResult> {
  const options: ClusterOptions = { ...CLUSTER_DEFAULTS, ...input };
  const started = performance.now();
  await checkFolders(options);
  const outDir = path.resolve(options.outDir);
  const files = await scanFilesDeep(options.photosDir, outDir);
  const ownEmbedder = embedder === undefined;
  // one runtime for the whole command: the clustering embedder and the --model recognizer share it
  const runtime = ownEmbedder || options.modelDir ? await chooseRuntime(options.engine) : undefined;
  const faceEmbedder = embedder ?? (await loadClusterEmbedder(runtime!, options.base ?? (await defaultBase(options))));
  let recognizer: Recognizer | undefined;
  let gallery: GalleryStore | undefined;
  try {
    recognizer = options.modelDir ? await loadRecognizer(options.modelDir, { runtime }) : undefined;
    gallery = options.gallery ? await openGallery(options.gallery, faceEmbedder.dims, options.modelDir) : undefined;
    if (recognizer && recognizer.manifest.input.crop !== 'aligned-face') {
      throw new FacetrainError('FT_ERR_MODEL', `${options.modelDir}: was trained on whole photos (without face detection), so it cannot name single faces; pass a model trained with face detection`);
    }
    const previous = await readFaceCache(outDir, faceEmbedder.key);
    const cache: FaceCache = new Map();
    const skipped: ClusterResult['skipped'] = [];
    const photos: PhotoFaces[] = [];
    let cachedPhotos = 0;
    emit({ type: 'scan', photos: files.length, cachedFaces: previous.size > 0 });
    const embedStarted = performance.now();
    let embedded = 0;
    for (const [i, file] of files.entries()) {
      const photo = path.relative(options.photosDir, file).split(path.sep).join('/');
      try {
        const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
          throw new FacetrainError('FT_ERR_IMAGE', `${file}: cannot be read (${err.code}); check its permissions`);
        });
        const hash = hashBytes(bytes);
        const hit = previous.get(hash);
        const image = hit && !recognizer ? undefined : await decodeImage(bytes, file);
        const faces = hit ?? (await faceEmbedder.embedFaces(image!));
        if (hit) cachedPhotos++;
        else embedded++;
        cache.set(hash, faces);
        const known = recognizer && faces.length > 0 ? await knownLabels(recognizer, image!, faces) : faces.map((): string | undefined => undefined);
        if (gallery) {
          const fromGallery = await galleryLabels(gallery, faces, faceEmbedder.linkSimilarity);
          fromGallery.forEach((name, rank) => (known[rank] ??= name));
        }
        photos.push({ photo, file, faces, known });
      } catch (err) {
        if (!(err instanceof FacetrainError)) throw err;
        const reason = skipReason(err, file);
        skipped.push({ file, reason });
        emit({ type: 'skip', file, reason });
      }
      const seconds = (performance.now() - embedStarted) / 1000;
      const rate = (i + 1) / Math.max(seconds, 1e-3);
      const embedRate = embedded / Math.max(seconds, 1e-3);
      const remaining = files.length - i - 1;
      emit({ type: 'progress', stage: 'faces', done: i + 1, total: files.length, photosPerSecond: rate, etaSeconds: embedded > 0 ? remaining / embedRate : 0 });
    }

    const allFaces = photos.flatMap((p) => p.faces.map((face, rank) => ({ photo: p.photo, file: p.file, rank, face, known: p.known[rank] })));
    const unknown = allFaces.filter((f) => f.known === undefined);
    const knownNames = [...new Set(allFaces.flatMap((f) => (f.known === undefined ? [] : [f.known])))].sort();
    const rule = groupingRule(faceEmbedder, unknown.length);
    const clusters = groupFaces(unknown.map((f) => ({ embedding: f.face.embedding, photo: f.photo })), { ...rule, minPhotos: options.minPhotos, seed: options.seed }, options.neighbourSearch)
      .map((members) => members.map((m) => unknown[m]!))
      .filter((members) => photosOf(members).length >= options.minPhotos)
      .sort((a, b) => photosOf(b).length - photosOf(a).length || b.length - a.length);
    const clusterNames = newGroupNames(clusters.length, new Set(knownNames));
    const groupOf = new Map<(typeof allFaces)[number], string>();
    for (const f of allFaces) if (f.known !== undefined) groupOf.set(f, f.known);
    clusters.forEach((members, i) => members.forEach((f) => groupOf.set(f, clusterNames[i]!)));
    const faces: ClusteredFace[] = allFaces.map((f) => ({ photo: f.photo, face: f.rank, box: f.face.box, group: groupOf.get(f) ?? UNSORTED_DIR }));
    const groupNames = [...knownNames, ...clusterNames];
    const groups: ClusterGroup[] = groupNames.map((name) => {
      const members = faces.filter((f) => f.group === name);
      return { name, known: knownNames.includes(name), photos: photosOf(members), faces: members.length };
    });
    const withoutFaces = photos.filter((p) => p.faces.length === 0).map((p) => p.photo);
    const unsorted = [...new Set([...photosOf(faces.filter((f) => f.group === UNSORTED_DIR)), ...withoutFaces])].sort();
    const fileOf = new Map(photos.map((p) => [p.photo, p.file]));
    const thumbnails = new Map(allFaces.map((f) => [`${f.photo}#${f.rank}`, f.face.thumbnail]));

    await writeDirAtomic(
      outDir,
      async (tmp) => {
        const place = async (folder: string, list: string[]) => {
          await mkdir(path.join(tmp, folder), { recursive: true });
          for (const photo of list) {
            const source = path.resolve(fileOf.get(photo)!);
            const target = path.join(tmp, folder, linkName(photo));
            await (options.copy ? copyFile(source, target) : symlink(source, target));
          }
        };
        for (const group of groups) await place(group.name, group.photos);
        if (unsorted.length > 0) await place(UNSORTED_DIR, unsorted);
        await writeFile(path.join(tmp, CONTACT_SHEET_FILE), renderContactSheet({ groups, faces, unsorted, thumbnails }));
        await writeFile(path.join(tmp, CLUSTERS_FILE), `${JSON.stringify({ rule, groups, unsorted, faces }, null, 1)}\n`);
        await mkdir(path.join(tmp, CACHE_DIR));
        await writeFile(path.join(tmp, CACHE_DIR, CACHE_FILE), serializeFaceCache(cache, faceEmbedder.key));
      },
      { force: true },
    );
    for (const g of groups) emit({ type: 'group', name: g.name, photos: g.photos.length, faces: g.faces, known: g.known });
    emit({ type: 'saved', outDir, groups: clusters.length, known: knownNames.length, faces: faces.length, unsortedPhotos: unsorted.length, photosWithoutFaces: withoutFaces.length, ms: performance.now() - started });
    return { outDir, groups, unsorted, faces, skipped, cachedPhotos, rule };
  } finally {
    recognizer?.dispose();
    await gallery?.close();
    if (ownEmbedder) faceEmbedder.dispose();
  }
}

