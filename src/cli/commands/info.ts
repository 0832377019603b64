import type { CAC } from 'cac';
import { describeModel } from '../../api/info.js';
import type { OutputFlags } from '../options.js';

export function registerInfo(cli: CAC): void {
  cli
    .command('info <model>', 'Say what a model (directory, export folder or .onnx file) is, needs and outputs')
    .option('--json', 'The description as JSON')
    .action(async (target: string, flags: OutputFlags) => {
      const info = await describeModel(target);
      if (flags.json) {
        console.log(JSON.stringify({ kind: info.kind, path: info.path, facts: Object.fromEntries(info.facts), source: info.source }));
        return;
      }
      const width = Math.max(...info.facts.map(([key]) => key.length));
      for (const [key, value] of info.facts) console.log(`${key.padEnd(width)}  ${value}`);
    });
}
