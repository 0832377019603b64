import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FacetrainError } from '../errors.js';

/**
 * Replaces `file` with what `write` puts at the temporary path it is given (for writers that take
 * a path, like a native library's save): readers see the old content or the new, never a
 * half-written one, and a failed write leaves no temporary file behind.
 */
export async function replaceFileAtomic(file: string, write: (tmp: string) => Promise<void> | void): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await write(tmp);
    const handle = await open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Writes a file so that readers see the old content or the new, never a half-written one. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await replaceFileAtomic(file, (tmp) => writeFile(tmp, data));
}

export async function pathExists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function isNonEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length > 0;
  } catch {
    return false;
  }
}

/** Refuses to overwrite a non-empty directory unless forced: checked before long work, not after. */
export async function assertReplaceable(dir: string, force: boolean): Promise<void> {
  if (!force && (await isNonEmptyDir(path.resolve(dir)))) {
    throw new FacetrainError('FT_ERR_EXISTS', `${dir} already exists and is not empty; choose another output folder or allow replacing it`, { options: ['outDir', 'force'] });
  }
}

/**
 * The steps of a directory swap, in order. `writeDirAtomic`'s `onStep` is called synchronously
 * right after each one: the crash tests' child process (test/support/swap-crash-child.ts) kills
 * itself there to prove in real processes that every instant of a swap is recoverable.
 */
export const SWAP_STEPS = Object.freeze(['tmp-created', 'filled', 'old-aside', 'new-in-place', 'old-removed'] as const);
export type SwapStep = (typeof SWAP_STEPS)[number];

/** Sibling names of a swap in progress: `<name>.<12 hex>.tmp` (the new copy) and `<name>.<12 hex>.old` (the previous one). */
function swapLeftovers(target: string): { tmp: Map<string, string>; old: Map<string, string> } {
  const parent = path.dirname(target);
  const base = path.basename(target);
  const pattern = /^\.([0-9a-f]{12})\.(tmp|old)$/;
  const tmp = new Map<string, string>();
  const old = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync(parent);
  } catch {
    return { tmp, old };
  }
  for (const name of names) {
    if (!name.startsWith(base)) continue;
    const match = pattern.exec(name.slice(base.length));
    if (match) (match[2] === 'tmp' ? tmp : old).set(match[1]!, path.join(parent, name));
  }
  return { tmp, old };
}

function lockFile(target: string): string {
  return `${target}.lock`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of another live process changing `target`, if any (a lock left by a killed process does not count). */
function activeWriter(target: string): number | undefined {
  try {
    const pid = Number(readFileSync(lockFile(target), 'utf8'));
    return Number.isInteger(pid) && pid !== process.pid && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Finishes or undoes a swap a killed process left half done, so the next open sees one complete
 * directory and no stale copy (after `forget`, a `.old` copy would still hold the person):
 * with the directory missing, a `.old` beside a `.tmp` means the new copy was complete (it is
 * renamed in), a `.old` alone is renamed back; every other `.tmp` or `.old` is removed.
 * Does nothing while another live process is in the middle of a swap of the same directory.
 */
export function recoverInterruptedSwap(dir: string): void {
  const target = path.resolve(dir);
  if (activeWriter(target) !== undefined) return;
  const { tmp, old } = swapLeftovers(target);
  if (!existsSync(target)) {
    for (const [suffix, oldDir] of old) {
      const complete = tmp.get(suffix);
      renameSync(complete ?? oldDir, target);
      if (complete) tmp.delete(suffix);
      else old.delete(suffix);
      break;
    }
  }
  for (const leftover of [...tmp.values(), ...old.values()]) rmSync(leftover, { recursive: true, force: true });
  rmSync(lockFile(target), { force: true });
}

/** Flushes every file under `dir` and the folder entries themselves, so a power cut after the swap cannot leave empty files. */
async function syncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const child = path.join(dir, entry.name);
    if (entry.isDirectory()) await syncTree(child);
    else if (entry.isFile()) await syncPath(child);
  }
  await syncPath(dir);
}

async function syncPath(p: string): Promise<void> {
  const handle = await open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** One change at a time per directory within this process; the lock file keeps other processes out. */
const inProcessSwaps = new Map<string, Promise<unknown>>();

function takeLock(target: string): void {
  const writer = activeWriter(target);
  if (writer !== undefined) {
    throw new FacetrainError('FT_ERR_EXISTS', `${target} is being changed by another facetrain process (pid ${writer}); wait for it to finish and try again (if no facetrain runs, delete ${lockFile(target)})`);
  }
  recoverInterruptedSwap(target);
  const fd = openSync(lockFile(target), 'wx');
  writeSync(fd, String(process.pid));
  closeSync(fd);
}

/**
 * Builds a whole directory in a sibling temp folder, then swaps it in: the old directory is moved
 * aside, the new one renamed into place, the old one removed. A crash at any point leaves either
 * the old or the new complete directory (recovered on the next open by `recoverInterruptedSwap`),
 * and Ctrl-C or SIGTERM during the swap undoes or finishes it before the process exits. An existing
 * directory is replaced only with `force`.
 */
export async function writeDirAtomic(
  dir: string,
  fill: (tmpDir: string) => Promise<void>,
  { force = false, onStep = () => {} }: { force?: boolean; onStep?: (step: SwapStep) => void } = {},
): Promise<void> {
  const target = path.resolve(dir);
  const previous = inProcessSwaps.get(target) ?? Promise.resolve();
  const run = previous.catch(() => {}).then(() => swapDir(dir, target, fill, force, onStep));
  inProcessSwaps.set(target, run);
  try {
    await run;
  } finally {
    if (inProcessSwaps.get(target) === run) inProcessSwaps.delete(target);
  }
}

async function swapDir(dir: string, target: string, fill: (tmpDir: string) => Promise<void>, force: boolean, reachedStep: (step: SwapStep) => void): Promise<void> {
  mkdirSync(path.dirname(target), { recursive: true });
  takeLock(target);
  const suffix = randomBytes(6).toString('hex');
  const tmp = `${target}.${suffix}.tmp`;
  const old = `${target}.${suffix}.old`;
  // Ctrl-C or SIGTERM waits for the current step: before the old model is moved aside the swap is
  // undone, after it the swap is finished (a rename away); exiting at once would race writes in flight
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = signal;
  };
  const checkpoint = (step: SwapStep) => {
    reachedStep(step);
    if (interrupted) throw new FacetrainError('FT_ERR_EXISTS', `${dir}: interrupted by ${interrupted}; nothing was changed`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await assertReplaceable(dir, force);
    await mkdir(tmp);
    checkpoint('tmp-created');
    await fill(tmp);
    await syncTree(tmp);
    checkpoint('filled');
    const replacing = existsSync(target);
    if (replacing) await rename(target, old);
    reachedStep('old-aside');
    await rename(tmp, target);
    await syncPath(path.dirname(target));
    reachedStep('new-in-place');
    if (replacing) await rm(old, { recursive: true, force: true });
    reachedStep('old-removed');
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rmSync(lockFile(target), { force: true });
    if (interrupted) process.exit(interrupted === 'SIGINT' ? 130 : 143);
  }
}

