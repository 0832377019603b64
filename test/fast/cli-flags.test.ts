import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { cac, type CAC } from 'cac';
import { BASES } from '../../src/base/index.js';
import { registerCrop } from '../../src/cli/commands/crop.js';
import { registerExport } from '../../src/cli/commands/export.js';
import { registerGalleryIndex, SEARCH_RANGES } from '../../src/cli/commands/gallery-index.js';
import { registerInfo } from '../../src/cli/commands/info.js';
import { registerPredict } from '../../src/cli/commands/predict.js';
import { registerServe, SERVE_RANGES } from '../../src/cli/commands/serve.js';
import { registerTrain } from '../../src/cli/commands/train.js';
import { registerVerify } from '../../src/cli/commands/verify.js';
import { cliMessage, knowFlags } from '../../src/cli/options.js';
import { describeRange, SIMILARITY_RANGE, TRAIN_RANGES } from '../../src/config.js';
import { ERROR_CODES, FacetrainError } from '../../src/errors.js';
import { PREDICT_RANGES } from '../../src/recognize/recognizer.js';
import { CLI_PATH } from '../support/cli.js';

const USAGE_EXIT = ERROR_CODES.FT_ERR_INVALID_OPTION.exit;

/** The real `facetrain` in a child process, as a user runs it. */
function facetrain(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_PATH, ...args], { encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

/** What the CLI prints for `args` run in this process on the registered commands (main.ts's one line, without `error: `). */
async function inProcess(cli: CAC, args: string[]): Promise<{ message: string; exit: number }> {
  cli.parse(['node', 'facetrain', ...args], { run: false });
  try {
    await cli.runMatchedCommand();
  } catch (err) {
    assert.ok(err instanceof FacetrainError, String(err));
    return { message: cliMessage(err), exit: err.exitCode };
  }
  assert.fail(`${args.join(' ')}: expected an error`);
}

test('every command checks its flags before reading a file: one error line naming the flag, exit 2', { timeout: 300_000 }, async () => {
  // nothing of these exists: a flag checked after loading would fail on the missing file instead
  const nowhere = path.join(await mkdtemp(path.join(os.tmpdir(), 'facetrain-flags-')), 'missing');
  const { topK } = PREDICT_RANGES;
  const seed = TRAIN_RANGES.seed!;
  const cases: [string[], string][] = [
    [['predict', nowhere, nowhere, '--top-k', String(topK!.max + 1)], `Expected ${describeRange(topK!)} for --top-k but received ${topK!.max + 1}`],
    [['serve', nowhere, '--port', 'http'], 'Expected a number for --port but received "http"'],
    [['serve', nowhere, '--max-in-flight', String(SERVE_RANGES.maxInFlight!.min - 1)], `Expected ${describeRange(SERVE_RANGES.maxInFlight!)} for --max-in-flight but received ${SERVE_RANGES.maxInFlight!.min - 1}`],
    [['search', nowhere, '--gallery', `pglite:${nowhere}`, '--limit', String(SEARCH_RANGES.limit!.max + 1)], `Expected ${describeRange(SEARCH_RANGES.limit!)} for --limit but received ${SEARCH_RANGES.limit!.max + 1}`],
    [['index', nowhere, '--gallery', `pglite:${nowhere}`, '--engine', 'gpu'], 'Expected onnx or tfjs for --engine but received "gpu"'],
    [['crop', nowhere, '--out', nowhere, '--base', 'nope'], `Expected ${BASES.join(' or ')} for --base but received "nope"`],
    [['verify', nowhere, nowhere, `--threshold=${SIMILARITY_RANGE.max + 1}`], `Expected ${describeRange(SIMILARITY_RANGE)} for --threshold but received ${SIMILARITY_RANGE.max + 1}`],
    [['train', nowhere, '--out', nowhere, '--seed', String(seed.max + 1)], `Expected ${describeRange(seed)} for --seed but received ${seed.max + 1}`],
    // checked by the library (parseFormats), which names the option; the CLI prints its flag
    [['export', nowhere, '--format', 'nope'], 'Expected all or a comma list of tfjs, h5, onnx, tflite, tflite-fp16, tflite-int8 for --format but received "nope"'],
  ];
  const cli = cac('facetrain');
  for (const register of [registerPredict, registerServe, registerGalleryIndex, registerCrop, registerVerify, registerTrain, registerExport, registerInfo]) register(cli);
  knowFlags(cli);
  for (const [args, message] of cases) assert.deepEqual(await inProcess(cli, args), { message, exit: USAGE_EXIT }, args.join(' '));
  // a library message names the function to run (`train()`); the CLI names the command
  const emptyFolder = path.dirname(nowhere);
  assert.deepEqual(await inProcess(cli, ['info', emptyFolder]), { message: `${emptyFolder}: neither facetrain.json nor pipeline.json is in it; pass a model directory written by facetrain train or its export folder`, exit: ERROR_CODES.FT_ERR_MODEL.exit });
  // and as a user sees them: real processes (two, each loads the whole CLI), stderr and exit code
  const real = [cases[0]!, cases.at(-1)!];
  const runs = await Promise.all(real.map(([args]) => facetrain(args)));
  for (const [i, run] of runs.entries()) {
    const [args, message] = real[i]!;
    assert.equal(run.stderr, `error: ${message}\n`, args.join(' '));
    assert.equal(run.status, USAGE_EXIT, args.join(' '));
    assert.equal(run.stdout, '', args.join(' '));
  }
});

test("the moved commands' numeric flags show their range in --help", () => {
  const cli = cac('facetrain');
  registerPredict(cli);
  registerServe(cli);
  registerGalleryIndex(cli);
  registerVerify(cli);
  const help = (command: string, flag: string) => cli.commands.find((c) => c.name === command)!.options.find((o) => o.name === flag)!.description;
  assert.match(help('predict', 'topK'), new RegExp(`\\(${describeRange(PREDICT_RANGES.topK!)}\\)`));
  assert.match(help('serve', 'port'), new RegExp(`\\(${describeRange(SERVE_RANGES.port!)}\\)`));
  assert.match(help('search', 'limit'), new RegExp(`\\(${describeRange(SEARCH_RANGES.limit!)}\\)`));
  assert.ok(help('verify', 'threshold').includes(`(${describeRange(SIMILARITY_RANGE)})`));
});
