import type { CAC } from 'cac';
import { ALL_FORMATS, exportModelDir, parseFormats, unavailableFormats } from '../../api/export.js';
import { addFlags, optionsFromFlags, type FlagTable } from '../flag-table.js';
import { cliText, type OutputFlags } from '../options.js';

/** export's flags; the formats are checked by parseFormats. */
const EXPORT_FLAGS: FlagTable<{ format: string; out?: string; calibration?: string }> = {
  format: { kind: 'string', value: 'list', help: `all, or a comma list of ${ALL_FORMATS.join(', ')}` },
  out: { kind: 'string', value: 'dir', help: 'Folder for the files (default: <model-dir>/export)' },
  calibration: { kind: 'string', value: 'photos', help: 'Photos (<person>/*) to calibrate tflite-int8 on' },
};

const EXPORT_DEFAULTS = Object.freeze({ format: 'all' });

export function registerExport(cli: CAC): void {
  addFlags(cli.command('export <model-dir>', 'Write the model for other runtimes: TF.js, Keras .h5, ONNX, TFLite (float32, float16, int8)'), EXPORT_FLAGS, EXPORT_DEFAULTS)
    .option('--json', 'Print the written files as JSON')
    .action(async (modelDir: string, flags: Record<string, unknown> & OutputFlags) => {
      const { format = EXPORT_DEFAULTS.format, out, calibration } = optionsFromFlags(flags, EXPORT_FLAGS, EXPORT_DEFAULTS);
      let formats = parseFormats(format);
      if (format === 'all') {
        // `all` is every format this model can be written in; the others are named, not dropped silently
        const unavailable = unavailableFormats({ calibration });
        for (const [format, reason] of unavailable) console.error(`skipped ${format}: ${cliText(reason)}`);
        formats = formats.filter((f) => !unavailable.has(f));
      }
      const written = await exportModelDir(modelDir, formats, {
        outDir: out,
        calibration,
        onWritten: (format, file) => !flags.json && console.log(`${format.padEnd(12)} ${file}`),
      });
      if (flags.json) console.log(JSON.stringify({ written }));
    });
}
