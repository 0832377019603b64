import type { CAC } from 'cac';
import { ALL_FORMATS, exportModelDir, parseFormats, unavailableFormats } from '../../api/export.js';
import { cliText, type OutputFlags } from '../options.js';

export function registerExport(cli: CAC): void {
  cli
    .command('export <model-dir>', 'Write the model for other runtimes: TF.js, Keras .h5, ONNX, TFLite (float32, float16, int8)')
    .option('--format <list>', `all, or a comma list of ${ALL_FORMATS.join(', ')}`, { default: 'all' })
    .option('--out <dir>', 'Folder for the files (default: <model-dir>/export)')
    .option('--calibration <photos>', 'Photos (<person>/*) to calibrate tflite-int8 on')
    .option('--json', 'Print the written files as JSON')
    .action(async (modelDir: string, flags: { format: string; out?: string; calibration?: string } & OutputFlags) => {
      let formats = parseFormats(String(flags.format));
      if (String(flags.format) === 'all') {
        // `all` is every format this model can be written in; the others are named, not dropped silently
        const unavailable = unavailableFormats(flags);
        for (const [format, reason] of unavailable) console.error(`skipped ${format}: ${cliText(reason)}`);
        formats = formats.filter((f) => !unavailable.has(f));
      }
      const written = await exportModelDir(modelDir, formats, {
        outDir: flags.out,
        calibration: flags.calibration,
        onWritten: (format, file) => !flags.json && console.log(`${format.padEnd(12)} ${file}`),
      });
      if (flags.json) console.log(JSON.stringify({ written }));
    });
}
