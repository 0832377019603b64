import type { CAC } from 'cac';
import { BASES, isBaseName } from '../../base/index.js';
import type { BaseName } from '../../config.js';
import { writeFaceCrops } from '../../api/crop.js';
import { FacetrainError, invalidOption } from '../../errors.js';
import { engineOption, type OutputFlags } from '../options.js';
import { photoArgs } from '../photo-args.js';

export function registerCrop(cli: CAC): void {
  cli
    .command('crop <...photos>', 'Write the aligned face crops a model sees (PNG, largest face first), for debugging or another runtime')
    .option('--out <dir>', 'Folder for the crops (sub-folders of a given folder are kept)')
    .option('--model <dir>', 'Crop as this trained model does (default: as a model on the default base)')
    .option('--base <name>', `Without --model, crop as a model on this base: ${BASES.join(', ')}`)
    .option('--engine <name>', 'onnx (onnxruntime-node, default when installed) or tfjs')
    .option('--json', 'One JSON object per photo on stdout')
    .action(async (targets: string[], flags: { out?: string; model?: string; base?: string; engine?: unknown } & OutputFlags) => {
      if (!flags.out) throw new FacetrainError('FT_ERR_INVALID_OPTION', 'crop needs --out <dir>, the folder to write the crops to');
      if (flags.base !== undefined && !isBaseName(flags.base)) throw invalidOption('--base', BASES.join(', '), flags.base);
      const photos = await photoArgs(targets);
      let failures = 0;
      const input = await writeFaceCrops(photos, flags.out, { modelDir: flags.model, base: flags.base as BaseName | undefined, engine: engineOption(flags.engine) }, (result, { file }) => {
        if (result instanceof Error) {
          if (!(result instanceof FacetrainError)) throw result;
          failures++;
          process.stderr.write(`error: ${result.message.includes(file) ? result.message : `${file}: ${result.message}`}\n`);
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
