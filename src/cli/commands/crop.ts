import type { CAC } from 'cac';
import { BASES } from '../../base/index.js';
import type { BaseName } from '../../config.js';
import { writeFaceCrops } from '../../api/crop.js';
import { FacetrainError } from '../../errors.js';
import type { RuntimeName } from '../../runtime/runtime.js';
import { addFlags, ENGINE_FLAG, optionsFromFlags, type FlagTable } from '../flag-table.js';
import { cliMessage, type OutputFlags } from '../options.js';
import { photoArgs } from '../photo-args.js';

const CROP_FLAGS: FlagTable<{ out?: string; model?: string; base?: BaseName; engine?: RuntimeName }> = {
  out: { kind: 'string', value: 'dir', help: 'Folder for the crops (sub-folders of a given folder are kept)' },
  model: { kind: 'string', value: 'dir', help: 'Crop as this trained model does (default: as a model on the default base)' },
  base: { kind: 'choice', value: 'name', choices: BASES, help: `Without --model, crop as a model on this base: ${BASES.join(', ')}` },
  engine: ENGINE_FLAG,
};

export function registerCrop(cli: CAC): void {
  addFlags(cli.command('crop <...photos>', 'Write the aligned face crops a model sees (PNG, largest face first), for debugging or another runtime'), CROP_FLAGS, {})
    .option('--json', 'One JSON object per photo on stdout')
    .action(async (targets: string[], flags: Record<string, unknown> & OutputFlags) => {
      const { out, model, base, engine } = optionsFromFlags(flags, CROP_FLAGS, {});
      if (!out) throw new FacetrainError('FT_ERR_INVALID_OPTION', 'crop needs --out <dir>, the folder to write the crops to');
      const photos = await photoArgs(targets);
      let failures = 0;
      const input = await writeFaceCrops(photos, out, { modelDir: model, base, engine }, (result, { file }) => {
        if (result instanceof Error) {
          if (!(result instanceof FacetrainError)) throw result;
          failures++;
          process.stderr.write(`error: ${result.message.includes(file) ? cliMessage(result) : `${file}: ${cliMessage(result)}`}\n`);
          return;
        }
        if (flags.json) console.log(JSON.stringify(result));
        else if (result.crops.length === 0) console.log(`${file}: no face found`);
        else for (const crop of result.crops) console.log(`${file} -> ${crop.file}`);
      });
      if (!flags.json) console.error(`crops of ${input.size}x${input.size} px (${input.crop}${input.template ? `, ${input.template} template` : ''})`);
      if (failures > 0) process.exitCode = 4;
    });
}
