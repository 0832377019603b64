import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built `facetrain` entry point, for tests that drive a long-running child themselves. */
export const CLI_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The signal that ended the process, if one did (the crash tests kill it on purpose). */
  signal: NodeJS.Signals | null;
}

/** The child the crash tests stop at one step of a model-directory swap (swap-crash-child.ts). */
const SWAP_CRASH_CHILD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'swap-crash-child.js');

/** Runs `forget` or `train` in a child process that sends itself `signal` right after swap step `step`. */
export function runStoppedAtSwapStep(step: string, signal: NodeJS.Signals, args: string[]): CliRun {
  const r = spawnSync(process.execPath, [SWAP_CRASH_CHILD, step, signal, ...args], { encoding: 'utf8', timeout: 600_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

/** Runs the built `facetrain` command as a user would, in a separate process. */
export function runFacetrain(args: string[], env: Record<string, string> = {}): CliRun {
  const r = spawnSync(process.execPath, [CLI_PATH, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 600_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}
