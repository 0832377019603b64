import type { CAC } from 'cac';
import { readFile } from 'node:fs/promises';
import { withGallery } from '../../api/gallery.js';
import { indexArchive, searchByFace, type IndexEvent } from '../../api/gallery-index.js';
import { FacetrainError } from '../../errors.js';
import { archiveOf } from '../../gallery/open.js';
import type { RuntimeName } from '../../runtime/runtime.js';
import { SIMILARITY_RANGE } from '../../config.js';
import { addFlags, ENGINE_FLAG, optionsFromFlags, type FlagRanges, type FlagTable } from '../flag-table.js';
import type { OutputFlags } from '../options.js';

interface IndexSettings {
  gallery?: string;
  worker?: string;
  engine?: RuntimeName;
}

interface SearchSettings {
  gallery?: string;
  threshold?: number;
  limit?: number;
  engine?: RuntimeName;
}

const GALLERY_FLAG = { kind: 'string', value: 'url', help: 'postgres://... or pglite:<folder>' } as const;

const INDEX_FLAGS: FlagTable<IndexSettings> = {
  gallery: GALLERY_FLAG,
  worker: { kind: 'string', value: 'name', help: 'Name recorded for this worker (default host:pid)' },
  engine: ENGINE_FLAG,
};

const SEARCH_FLAGS: FlagTable<SearchSettings> = {
  gallery: GALLERY_FLAG,
  threshold: { kind: 'number', value: 't', help: "Lowest similarity counted as the same person (default: the base's gallery threshold)" },
  limit: { kind: 'number', value: 'n', help: 'At most this many photos' },
  engine: ENGINE_FLAG,
};

const SEARCH_DEFAULTS: Partial<SearchSettings> = Object.freeze({ limit: 100 });

/** A gallery search returns at most 100 photos (the HNSW index's candidate list). */
export const SEARCH_RANGES: FlagRanges<SearchSettings> = Object.freeze({ threshold: SIMILARITY_RANGE, limit: { min: 1, max: 100, integer: true } });

function requiredGallery(url: string | undefined): string {
  if (!url) throw new FacetrainError('FT_ERR_INVALID_OPTION', '--gallery <url> is required: postgres://..., pglite:<folder> or file:<gallery.json>');
  return url;
}

function progressLine(e: IndexEvent, tty: boolean): string | undefined {
  switch (e.type) {
    case 'queued':
      return `queued ${e.fresh} new of ${e.photos} photo(s)`;
    case 'indexed':
      return tty ? undefined : `indexed ${e.file}: ${e.faces} face(s)`;
    case 'skipped':
      return `skipped ${e.file}: ${e.reason}`;
    case 'done':
      return `indexed ${e.indexedHere} photo(s) here; the gallery has ${e.progress.indexed} of ${e.progress.photos} photo(s) indexed, ${e.progress.faces} face(s)`;
  }
}

export function registerGalleryIndex(cli: CAC): void {
  addFlags(cli.command('index <photos>', 'Index every face in a folder of photos into a gallery (resumable; run it on several machines to share the work)'), INDEX_FLAGS, {})
    .option('--json', 'One JSON object per event on stdout')
    .action(async (photos: string, flags: Record<string, unknown> & OutputFlags) => {
      const { gallery, worker, engine } = optionsFromFlags(flags, INDEX_FLAGS, {});
      const url = requiredGallery(gallery);
      await withGallery(url, { engine }, async ({ store, faces }) => {
        const tty = Boolean(process.stderr.isTTY) && !flags.json;
        let done = 0;
        await indexArchive(archiveOf(store), faces, photos, {
          worker,
          onEvent: (e) => {
            if (flags.json) return void console.log(JSON.stringify(e));
            if (e.type === 'indexed' && tty) process.stderr.write(`\r\x1b[Kindexing: ${++done} photo(s) done here`);
            const line = progressLine(e, tty);
            if (line) process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`);
          },
        });
      });
    });
  addFlags(cli.command('search <photo>', 'List the indexed photos in which the person of this photo (its largest face) appears'), SEARCH_FLAGS, SEARCH_DEFAULTS, SEARCH_RANGES)
    .option('--json', 'Print the result as JSON')
    .action(async (photo: string, flags: Record<string, unknown> & OutputFlags) => {
      const { gallery, threshold, limit, engine } = optionsFromFlags(flags, SEARCH_FLAGS, SEARCH_DEFAULTS, SEARCH_RANGES);
      const url = requiredGallery(gallery);
      const query = await readFile(photo).catch(() => {
        throw new FacetrainError('FT_ERR_IMAGE', `${photo}: cannot be read; pass a photo of the person to search for`);
      });
      await withGallery(url, { engine }, async ({ store, faces }) => {
        const result = await searchByFace(archiveOf(store), faces, query, photo, { threshold, limit });
        if (flags.json) console.log(JSON.stringify({ photo, ...result }));
        else if (result.hits.length === 0) console.log(`${photo}: this person appears in no indexed photo`);
        else for (const hit of result.hits) console.log(`${hit.file} (similarity ${hit.similarity.toFixed(3)})`);
      });
    });
}
