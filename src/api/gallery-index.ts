import { readdir, readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { FacetrainError } from '../errors.js';
import type { ArchiveHit, ArchiveIndex, ArchivePhoto, ArchiveProgress } from '../gallery/store.js';
import { hashBytes } from '../model-dir/gallery.js';
import type { FaceEmbeddingPipeline } from './gallery.js';

/** Photos hashed and queued per transaction while scanning. */
const QUEUE_BATCH = 200;

export type IndexEvent =
  | { type: 'queued'; photos: number; fresh: number }
  | { type: 'indexed'; file: string; faces: number }
  | { type: 'skipped'; file: string; reason: string }
  | { type: 'done'; indexedHere: number; progress: ArchiveProgress };

export interface IndexOptions {
  /** Names this worker in the database (default host:pid). */
  worker?: string;
  onEvent?: (e: IndexEvent) => void;
}

/** Every non-hidden file under `root`, at any depth, sorted, as absolute paths other workers can open too. */
async function archiveFiles(root: string): Promise<string[]> {
  const info = await stat(root).catch(() => undefined);
  if (!info) throw new FacetrainError('FT_ERR_DATASET', `${root}: no such file or folder; pass a folder of photos (or one photo)`);
  if (!info.isDirectory()) return [path.resolve(root)];
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith('.'))
    .map((e) => path.resolve(e.parentPath ?? e.path, e.name))
    .filter((f) => !path.relative(path.resolve(root), f).split(path.sep).some((part) => part.startsWith('.')))
    .sort();
}

/**
 * Queues every photo under `root` (once per content hash) and indexes pending ones until none is
 * left. Any number of workers, here or on other machines, can run it on one database at once: each
 * photo is taken by one of them and recorded with its faces in one transaction, so a worker that
 * is killed loses only the photo it was on, which the next worker takes again.
 */
export async function indexArchive(archive: ArchiveIndex, faces: FaceEmbeddingPipeline, root: string, options: IndexOptions = {}): Promise<ArchiveProgress> {
  const emit = options.onEvent ?? (() => {});
  const worker = options.worker ?? `${hostname()}:${process.pid}`;
  const files = await archiveFiles(root);
  for (let start = 0; start < files.length; start += QUEUE_BATCH) {
    const batch: ArchivePhoto[] = [];
    for (const file of files.slice(start, start + QUEUE_BATCH)) {
      const bytes = await readFile(file).catch(() => undefined);
      if (bytes) batch.push({ photoHash: hashBytes(bytes), file });
      else emit({ type: 'skipped', file, reason: 'cannot be read' });
    }
    emit({ type: 'queued', photos: batch.length, fresh: await archive.queue(batch) });
  }
  let indexedHere = 0;
  const work = async (photo: ArchivePhoto) => {
    try {
      const found = await faces.embedFaces(await readFile(photo.file), photo.file);
      emit({ type: 'indexed', file: photo.file, faces: found.length });
      return found.map((f) => ({ embedding: f.embedding, box: f.box }));
    } catch (err) {
      // recorded with no faces, so an unreadable photo is not retried by every worker forever
      const reason = err instanceof FacetrainError ? err.message : `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      if (!(err instanceof FacetrainError) && !(err as NodeJS.ErrnoException).code) throw err;
      emit({ type: 'skipped', file: photo.file, reason });
      return [];
    }
  };
  while (await archive.indexNext(worker, work)) indexedHere++;
  const progress = await archive.progress();
  emit({ type: 'done', indexedHere, progress });
  return progress;
}

export interface SearchResult {
  /** Faces found in the query photo; the largest is searched. */
  faces: number;
  hits: ArchiveHit[];
}

/** The indexed photos in which the person of the query photo's largest face appears. */
export async function searchByFace(archive: ArchiveIndex, faces: FaceEmbeddingPipeline, query: Uint8Array, label: string, options: { threshold?: number; limit?: number } = {}): Promise<SearchResult> {
  const found = await faces.embedFaces(query, label);
  if (found.length === 0) throw new FacetrainError('FT_ERR_IMAGE', `${label}: no face found; pass a photo where the face is visible`);
  return { faces: found.length, hits: await archive.searchArchive(found[0]!.embedding, options.threshold ?? faces.matchThreshold, options.limit ?? 100) };
}
