import path from 'node:path';
import { FacetrainError } from '../errors.js';
import { FileGalleryStore } from './file-store.js';
import { pgliteClient } from './pglite-client.js';
import { postgresClient } from './postgres-client.js';
import { SqlGalleryStore } from './sql-store.js';
import type { ArchiveIndex, GalleryStore } from './store.js';
import { EXACT_SEARCH_UP_TO } from './template-index.js';

/** The embedded store's folder inside a model directory (`--gallery embedded`). */
export const EMBEDDED_GALLERY_DIR = 'gallery.pglite';

export const GALLERY_URL_FORMS = 'postgres://user:password@host:5432/db, pglite:<folder>, file:<gallery.json> or embedded (in the model directory)';

/** The URL with its password replaced, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * Opens the gallery a `--gallery` value names; `modelDir` is where `embedded` lives.
 * `dims` is the length of the embeddings the caller makes: a gallery of another length is refused.
 */
export async function openGallery(url: string, dims: number, modelDir?: string): Promise<GalleryStore & Partial<ArchiveIndex>> {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const location = redactUrl(url);
    return SqlGalleryStore.open(await postgresClient(url, location), location, dims);
  }
  if (url === 'embedded') {
    if (!modelDir) throw new FacetrainError('FT_ERR_INVALID_OPTION', `\`gallery\` embedded lives in a model directory and this command has none; choose pglite:<folder> or postgres://...`);
    url = `pglite:${path.join(modelDir, EMBEDDED_GALLERY_DIR)}`;
  }
  if (url.startsWith('pglite:')) return openEmbeddedGallery(url.slice('pglite:'.length), dims);
  if (url.startsWith('file:')) return FileGalleryStore.open(url.slice('file:'.length), dims);
  throw new FacetrainError('FT_ERR_INVALID_OPTION', `\`gallery\` ${redactUrl(url)}: not a gallery URL; expected ${GALLERY_URL_FORMS}`);
}

/**
 * The embedded store in `dir` (`pglite:<dir>`): PGlite keeps the records; an exact scan, or a
 * usearch graph whose files lie beside PGlite's, searches them (see SqlStoreOptions).
 * `exactSearchUpTo` 0 builds and walks the graph at any size, as the tests do.
 */
export async function openEmbeddedGallery(dir: string, dims: number, exactSearchUpTo = EXACT_SEARCH_UP_TO): Promise<SqlGalleryStore> {
  const url = `pglite:${dir}`;
  return SqlGalleryStore.open(await pgliteClient(dir, url), url, dims, { indexDir: dir, scrubFiles: true, exactSearchUpTo });
}

/** The archive side of a gallery, or a clear error for stores that have none. */
export function archiveOf(store: GalleryStore & Partial<ArchiveIndex>): GalleryStore & ArchiveIndex {
  if (!store.queue) throw new FacetrainError('FT_ERR_UNSUPPORTED', `${store.location}: indexing photos needs a database \`gallery\`: pglite:<folder> or postgres://...`);
  return store as GalleryStore & ArchiveIndex;
}
