import type { CAC } from 'cac';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { scanFiles } from '../../dataset/scan.js';
import { enrollPerson, forgetPerson } from '../../api/enroll.js';
import { FacetrainError } from '../../errors.js';
import type { OutputFlags } from '../options.js';

export function registerPeople(cli: CAC): void {
  cli
    .command('enroll <model-dir> <person-folder>', 'Add a person (or more photos of one) to a model in seconds, without retraining the base')
    .option('--name <name>', 'The person\'s name (default: the folder name)')
    .option('--json', 'Print the result as JSON')
    .action(async (modelDir: string, folder: string, flags: { name?: string } & OutputFlags) => {
      const name = flags.name ?? path.basename(path.resolve(folder));
      const files = await scanFiles(folder).catch(() => {
        throw new FacetrainError('FT_ERR_DATASET', `${folder}: cannot read the folder; pass a folder of photos of one person`);
      });
      const photos = await Promise.all(files.map(async (file) => ({ file, bytes: await readFile(file) })));
      const result = await enrollPerson(modelDir, name, photos);
      if (flags.json) console.log(JSON.stringify({ name, ...result }));
      else {
        for (const s of result.skipped) console.error(`skipped ${s.file}: ${s.reason}`);
        console.log(`enrolled ${name}: ${result.added} photo(s) added to ${modelDir}`);
      }
    });
  cli
    .command('forget <model-dir> <name>', 'Remove a person completely: their embeddings, their label and reports showing them')
    .action(async (modelDir: string, name: string) => {
      await forgetPerson(modelDir, String(name));
      console.log(`forgot ${name}`);
    });
}
