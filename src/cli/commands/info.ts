import type { CAC } from 'cac';
import { describeModel } from '../../api/info.js';
import { cliText, type OutputFlags } from '../options.js';

export function registerInfo(cli: CAC): void {
  cli
    .command('info <model>', 'Say what a model (directory, export folder or .onnx file) is, needs and outputs')
    .option('--json', 'The description as JSON')
    .action(async (target: string, flags: OutputFlags) => {
      const described = await describeModel(target);
      const info = { ...described, facts: described.facts.map(([key, value]) => [key, cliText(value)] as [string, string]) };
      if (flags.json) {
        console.log(JSON.stringify({ kind: info.kind, path: info.path, facts: Object.fromEntries(info.facts), source: info.source }));
        return;
      }
      const width = Math.max(...info.facts.map(([key]) => key.length));
      for (const [key, value] of info.facts) console.log(`${key.padEnd(width)}  ${value}`);
    });
}
