import type { CAC } from 'cac';
import type { TrainConfig } from '../../config.js';
import { train } from '../../api/train.js';
import { FacetrainError } from '../../errors.js';
import { createReporter } from '../reporter.js';
import type { OutputFlags } from '../options.js';
import { addTrainFlags, trainConfigFromFlags } from '../train-flags.js';
import { addFlags, optionsFromFlags, type FlagTable } from '../flag-table.js';

/** train's flags besides TrainConfig's: where the model goes, and what else to do with it. */
const TRAIN_COMMAND_FLAGS: FlagTable<{ out?: string; export?: string; gallery?: string }> = {
  out: { kind: 'string', value: 'dir', help: 'Model directory to write (required)' },
  export: { kind: 'string', value: 'list', help: 'Also write these formats into <out>/export: tfjs, h5, onnx, tflite, tflite-fp16, tflite-int8 or all' },
  gallery: { kind: 'string', value: 'url', help: 'Also enrol the training photos into this gallery (postgres://..., pglite:<folder>, file:<json>, embedded)' },
};

export function registerTrain(cli: CAC): void {
  addTrainFlags(addFlags(cli.command('train <photos>', 'Train a recognizer from photos/<person>/*.jpg (or photos/train/<person> + photos/val/<person>)'), TRAIN_COMMAND_FLAGS, {}))
    .option('--json', 'One JSON event per line on stdout')
    .example('facetrain train photos/ --out models/family')
    .example('facetrain train photos/ --out models/classic --base mobilenetv2 --no-detect')
    .action(async (photos: string, flags: Record<string, unknown> & OutputFlags) => {
      const { out, export: exported, gallery } = optionsFromFlags(flags, TRAIN_COMMAND_FLAGS, {});
      if (out === undefined) throw new FacetrainError('FT_ERR_INVALID_OPTION', 'train needs --out <dir>: the model directory to write');
      const config: Partial<TrainConfig> & Pick<TrainConfig, 'dataDir' | 'outDir'> = {
        dataDir: photos,
        outDir: out,
        ...trainConfigFromFlags(flags),
      };
      // the exporters and gallery clients only when asked for (their modules cost a plain train 0.2-0.4 s)
      const exporting = exported === undefined ? undefined : await import('../../api/export.js').then((api) => ({ api, formats: api.parseFormats(exported) }));
      const report = createReporter({ json: flags.json === true, tty: process.stderr.isTTY === true });
      await train(config, report);
      if (gallery !== undefined) {
        const { enrollTrainingPhotos } = await import('../../api/gallery-model.js');
        const enrolled = await enrollTrainingPhotos(config.outDir, gallery);
        if (flags.json === true) console.log(JSON.stringify({ type: 'gallery-enrolled', ...enrolled }));
        else process.stderr.write(`enrolled ${enrolled.added} training photo(s) of ${enrolled.people} people into ${enrolled.location}${enrolled.alreadyKnown ? ` (${enrolled.alreadyKnown} already there)` : ''}\n`);
      }
      if (exporting && exporting.formats.length > 0) await exporting.api.exportModelDir(config.outDir, exporting.formats, { calibration: photos, onWritten: (format, file) => report({ type: 'exported', format, file }) });
    });
}
