import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cac } from 'cac';
import { BASE_ROWS, resolveTrainConfig } from '../../src/base/index.js';
import { registerEval } from '../../src/cli/commands/eval.js';
import { registerTrain } from '../../src/cli/commands/train.js';
import { registerExport } from '../../src/cli/commands/export.js';
import { cliText, cliMessage, knowFlags } from '../../src/cli/options.js';
import { FacetrainError, invalidOption } from '../../src/errors.js';

function thrown(run: () => unknown): FacetrainError {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof FacetrainError, String(err));
    return err;
  }
  assert.fail('expected a FacetrainError');
}

test('library errors name the option, the CLI prints its flag', () => {
  const cli = cac('facetrain');
  registerTrain(cli);
  registerExport(cli);
  knowFlags(cli);
  const range = thrown(() => resolveTrainConfig({ dataDir: 'photos', outDir: 'model', valSplit: 2 }));
  assert.equal(range.code, 'FT_ERR_INVALID_OPTION');
  assert.deepEqual(range.options, ['valSplit']);
  assert.doesNotMatch(range.message, /--/);
  assert.equal(cliMessage(range), 'Expected a number above 0 and up to 0.9 for --val-split but received 2');
  const base = thrown(() => resolveTrainConfig({ dataDir: 'photos', outDir: 'model', base: 'nope' as never }));
  assert.match(cliMessage(base), /^Expected faceres or mobilefacenet or mobilenetv2 for --base but received "nope"$/);
  // options the remedy refers to without naming them come after the message, by flag
  const exists = new FacetrainError('FT_ERR_EXISTS', 'model already exists and is not empty; choose another output folder or allow replacing it', { options: ['outDir', 'force'] });
  assert.equal(cliMessage(exists), `${exists.message} (--out, --force)`);
  // the widths come from the base's row; a base without widths takes no alpha of its own
  const widths = BASE_ROWS.mobilenetv2.alphas!;
  const alpha = thrown(() => resolveTrainConfig({ dataDir: 'photos', outDir: 'model', base: 'mobilenetv2', alpha: widths[0]! + 0.01 }));
  assert.equal(cliMessage(alpha), `Expected ${widths.join(', ')} for --alpha but received ${widths[0]! + 0.01}`);
  for (const width of widths) assert.equal(resolveTrainConfig({ dataDir: 'photos', outDir: 'model', base: 'mobilenetv2', alpha: width }).alpha, width);
  // a library function the remedy sends the user to is printed as the command that runs it
  assert.equal(cliText('x is not a TF.js pipeline export of a face model (`exportModelDir()` with `format` tfjs writes one)'), 'x is not a TF.js pipeline export of a face model (facetrain export with --format tfjs writes one)');
  // a name with no flag is printed as it is, without the backticks
  assert.equal(cliMessage(invalidOption('known people', 'at least one known person', 0)), 'Expected at least one known person for known people but received 0');
});

test("eval's flags come from its table, with the library's range in the help", () => {
  const cli = cac('facetrain');
  registerEval(cli);
  const evalCommand = cli.commands.find((c) => c.name === 'eval')!;
  const threshold = evalCommand.options.find((o) => o.name === 'threshold')!;
  assert.match(threshold.description, /a number from 0 to 1/);
  assert.deepEqual(evalCommand.options.map((o) => o.rawName).sort(), ['--engine <name>', '--gallery <url>', '--json', '--report <file>', '--threshold <t>']);
});
