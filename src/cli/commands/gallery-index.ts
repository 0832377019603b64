import type { CAC } from 'cac';
import { readFile } from 'node:fs/promises';
import { withGallery } from '../../api/gallery.js';
import { indexArchive, searchByFace, type IndexEvent } from '../../api/gallery-index.js';
import { FacetrainError } from '../../errors.js';
import { archiveOf } from '../../gallery/open.js';
import { engineOption, numberOption, optionalNumber, type OutputFlags } from '../options.js';

interface GalleryFlags extends OutputFlags {
  gallery?: string;
  engine?: unknown;
}

export function galleryUrl(flags: { gallery?: unknown }): string {
  if (typeof flags.gallery !== 'string' || flags.gallery === '') throw new FacetrainError('FT_ERR_INVALID_OPTION', '--gallery <url> is required: postgres://..., pglite:<folder> or file:<gallery.json>');
  return flags.gallery;
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
  cli
    .command('index <photos>', 'Index every face in a folder of photos into a gallery (resumable; run it on several machines to share the work)')
    .option('--gallery <url>', 'postgres://... or pglite:<folder>')
    .option('--worker <name>', 'Name recorded for this worker (default host:pid)')
    .option('--engine <name>', 'onnx (default when installed) or tfjs')
    .option('--json', 'One JSON object per event on stdout')
    .action(async (photos: string, flags: GalleryFlags & { worker?: string }) => {
      const url = galleryUrl(flags);
      await withGallery(url, { engine: engineOption(flags.engine) }, async ({ store, faces }) => {
        const tty = Boolean(process.stderr.isTTY) && !flags.json;
        let done = 0;
        await indexArchive(archiveOf(store), faces, photos, {
          worker: flags.worker,
          onEvent: (e) => {
            if (flags.json) return void console.log(JSON.stringify(e));
            if (e.type === 'indexed' && tty) process.stderr.write(`\r\x1b[Kindexing: ${++done} photo(s) done here`);
            const line = progressLine(e, tty);
            if (line) process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`);
          },
        });
      });
    });
  cli
    .command('search <photo>', 'List the indexed photos in which the person of this photo (its largest face) appears')
    .option('--gallery <url>', 'postgres://... or pglite:<folder>')
    .option('--threshold <t>', 'Lowest similarity counted as the same person (default: the base\'s gallery threshold)')
    .option('--limit <n>', 'At most this many photos (up to 100)', { default: 100 })
    .option('--engine <name>', 'onnx (default when installed) or tfjs')
    .option('--json', 'Print the result as JSON')
    .action(async (photo: string, flags: GalleryFlags & { threshold?: unknown; limit: unknown }) => {
      const url = galleryUrl(flags);
      const threshold = optionalNumber('--threshold', flags.threshold);
      const limit = numberOption('--limit', flags.limit);
      const query = await readFile(photo).catch(() => {
        throw new FacetrainError('FT_ERR_IMAGE', `${photo}: cannot be read; pass a photo of the person to search for`);
      });
      await withGallery(url, { engine: engineOption(flags.engine) }, async ({ store, faces }) => {
        const result = await searchByFace(archiveOf(store), faces, query, photo, { threshold, limit });
        if (flags.json) console.log(JSON.stringify({ photo, ...result }));
        else if (result.hits.length === 0) console.log(`${photo}: this person appears in no indexed photo`);
        else for (const hit of result.hits) console.log(`${hit.file} (similarity ${hit.similarity.toFixed(3)})`);
      });
    });
}
