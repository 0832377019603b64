#!/usr/bin/env node
import { cac, type CAC } from 'cac';
import { createRequire } from 'node:module';
import { FacetrainError, fromFileSystemError } from '../errors.js';
import { cliMessage, knowFlags } from './options.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

/**
 * Each command module (in help order) with the commands it registers, imported when one of them runs:
 * a command loads its own libraries only (train: no HTTP server, database clients or exporters).
 */
const COMMAND_MODULES: { commands: string[]; load: () => Promise<(cli: CAC) => void> }[] = [
  { commands: ['train'], load: async () => (await import('./commands/train.js')).registerTrain },
  { commands: ['predict'], load: async () => (await import('./commands/predict.js')).registerPredict },
  { commands: ['eval'], load: async () => (await import('./commands/eval.js')).registerEval },
  { commands: ['enroll', 'forget'], load: async () => (await import('./commands/people.js')).registerPeople },
  { commands: ['export'], load: async () => (await import('./commands/export.js')).registerExport },
  { commands: ['serve'], load: async () => (await import('./commands/serve.js')).registerServe },
  { commands: ['verify'], load: async () => (await import('./commands/verify.js')).registerVerify },
  { commands: ['index', 'search'], load: async () => (await import('./commands/gallery-index.js')).registerGalleryIndex },
  { commands: ['cluster'], load: async () => (await import('./commands/cluster.js')).registerCluster },
  { commands: ['crop'], load: async () => (await import('./commands/crop.js')).registerCrop },
  { commands: ['info'], load: async () => (await import('./commands/info.js')).registerInfo },
];

/** Exit code of a failure that is no user mistake: a bug to report (never one of the documented 2-10). */
const UNEXPECTED_EXIT_CODE = 1;

/**
 * Prints an unexpected failure as one line (the stack only with FACETRAIN_DEBUG=1). Installed before
 * the wasm backend loads: its Emscripten handler rethrows uncaught errors, which Node reports as
 * exit code 7, the code documented for "would overwrite".
 */
function reportUnexpected(err: unknown): void {
  const known = fromFileSystemError(err);
  if (known instanceof FacetrainError) {
    process.stderr.write(`error: ${cliMessage(known)}\n`);
    process.exit(known.exitCode);
  }
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  process.stderr.write(`error: unexpected failure: ${message}; this is a bug in facetrain, please report it (FACETRAIN_DEBUG=1 shows where it happened)\n`);
  if (process.env.FACETRAIN_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(UNEXPECTED_EXIT_CODE);
}

/** Parses argv and runs one command; user mistakes print one line and set a non-zero exit code. */
export async function runCli(argv: string[]): Promise<void> {
  const cli = cac('facetrain');
  // the module of the command named, or every one for the full help or an unknown word
  const named = COMMAND_MODULES.filter(({ commands }) => commands.includes(argv[2] ?? ''));
  for (const register of await Promise.all((named.length > 0 ? named : COMMAND_MODULES).map(({ load }) => load()))) register(cli);
  cli.help();
  cli.version(version);
  knowFlags(cli);
  try {
    cli.parse(argv, { run: false });
    if (!cli.matchedCommand) {
      if (cli.args.length > 0) throw new FacetrainError('FT_ERR_INVALID_OPTION', `unknown command "${cli.args[0]}"; run facetrain --help for the list`);
      if (!cli.options.help && !cli.options.version) cli.outputHelp();
      return;
    }
    await cli.runMatchedCommand();
  } catch (caught) {
    const err = fromFileSystemError(caught);
    if (err instanceof FacetrainError) {
      // clears a progress line left on a terminal
      process.stderr.write(`${process.stderr.isTTY ? "\r\x1b[K" : ""}error: ${cliMessage(err)}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    // cac's own usage errors (unknown option, missing argument) are user mistakes too
    if (err instanceof Error && err.name === 'CACError') {
      process.stderr.write(`error: ${err.message}; run facetrain --help\n`);
      process.exitCode = 2;
      return;
    }
    reportUnexpected(err);
  }
}

process.on('uncaughtException', reportUnexpected);
process.on('unhandledRejection', reportUnexpected);
await runCli(process.argv);
