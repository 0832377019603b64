import type { CAC } from 'cac';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { scanFiles } from '../../dataset/scan.js';
import type { SkippedPhoto } from '../../events.js';
import { enrollPerson, forgetPerson, type EnrollPhoto } from '../../api/enroll.js';
import { enrollInGallery, forgetInGallery, withGallery } from '../../api/gallery.js';
import { FacetrainError } from '../../errors.js';
import { addFlags, optionsFromFlags, type FlagTable } from '../flag-table.js';
import type { OutputFlags } from '../options.js';

const GALLERY_FLAG = { kind: 'string', value: 'url' } as const;

const ENROLL_FLAGS: FlagTable<{ name?: string; gallery?: string }> = {
  name: { kind: 'string', value: 'name', help: "The person's name (default: the folder name)" },
  gallery: { ...GALLERY_FLAG, help: "Add to this gallery (postgres://..., pglite:<folder>, file:<json>, embedded) instead of the model's head" },
};

const FORGET_FLAGS: FlagTable<{ gallery?: string }> = {
  gallery: { ...GALLERY_FLAG, help: "Remove from this gallery instead of the model's head" },
};

export function registerPeople(cli: CAC): void {
  addFlags(cli.command('enroll <model-dir> <person-folder>', 'Add a person (or more photos of one) to a model in seconds, without retraining the base'), ENROLL_FLAGS, {})
    .option('--json', 'Print the result as JSON')
    .action(async (modelDir: string, folder: string, flags: Record<string, unknown> & OutputFlags) => {
      const given = optionsFromFlags(flags, ENROLL_FLAGS, {});
      const name = given.name ?? path.basename(path.resolve(folder));
      const { gallery } = given;
      const files = await scanFiles(folder).catch((err: NodeJS.ErrnoException) => {
        throw new FacetrainError('FT_ERR_DATASET', `${folder}: cannot read the folder (${err.code ?? err.message}); pass a folder of photos of one person`);
      });
      const unreadable: SkippedPhoto[] = [];
      const photos: EnrollPhoto[] = [];
      for (const file of files) {
        // a broken link or a symlink loop is one skipped file, as in training, not the end of the run
        const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => void unreadable.push({ file, reason: `cannot be read (${err.code ?? err.message})` }));
        if (bytes) photos.push({ file, bytes });
      }
      const result = gallery
        ? await withGallery(gallery, { modelDir }, ({ store, faces }) => enrollInGallery(store, faces, name, photos))
        : await enrollPerson(modelDir, name, photos);
      result.skipped.unshift(...unreadable);
      if (flags.json) console.log(JSON.stringify({ name, ...result }));
      else {
        for (const s of result.skipped) console.error(`skipped ${s.file}: ${s.reason}`);
        console.log(`enrolled ${name}: ${result.added} photo(s) added to ${gallery ? 'the gallery' : modelDir}`);
      }
    });
  addFlags(cli.command('forget <model-dir> <name>', 'Remove a person completely: their embeddings, their label and reports showing them'), FORGET_FLAGS, {})
    .action(async (modelDir: string, name: string, flags: Record<string, unknown>) => {
      const { gallery } = optionsFromFlags(flags, FORGET_FLAGS, {});
      if (gallery) await withGallery(gallery, { modelDir }, ({ store }) => forgetInGallery(store, String(name)));
      else await forgetPerson(modelDir, String(name));
      console.log(`forgot ${name}`);
    });
}
