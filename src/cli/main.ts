#!/usr/bin/env node
import { cac } from 'cac';
import { createRequire } from 'node:module';
import { FacetrainError } from '../errors.js';
import { registerCluster } from './commands/cluster.js';
import { registerEval } from './commands/eval.js';
import { registerExport } from './commands/export.js';
import { registerPeople } from './commands/people.js';
import { registerPredict } from './commands/predict.js';
import { registerServe } from './commands/serve.js';
import { registerTrain } from './commands/train.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

/** Parses argv and runs one command; user mistakes print one line and set a non-zero exit code. */
export async function runCli(argv: string[]): Promise<void> {
  const cli = cac('facetrain');
  registerTrain(cli);
  registerPredict(cli);
  registerEval(cli);
  registerPeople(cli);
  registerExport(cli);
  registerServe(cli);
  registerCluster(cli);
  cli.help();
  cli.version(version);
  try {
    cli.parse(argv, { run: false });
    if (!cli.matchedCommand) {
      if (cli.args.length > 0) throw new FacetrainError('FT_ERR_INVALID_OPTION', `unknown command "${cli.args[0]}"; run facetrain --help for the list`);
      if (!cli.options.help && !cli.options.version) cli.outputHelp();
      return;
    }
    await cli.runMatchedCommand();
  } catch (err) {
    if (err instanceof FacetrainError) {
      // clears a progress line left on a terminal
      process.stderr.write(`${process.stderr.isTTY ? "\r\x1b[K" : ""}error: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    // cac's own usage errors (unknown option, missing argument) are user mistakes too
    if (err instanceof Error && err.name === 'CACError') {
      process.stderr.write(`error: ${err.message}; run facetrain --help\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

await runCli(process.argv);
