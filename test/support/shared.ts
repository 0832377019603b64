import { existsSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** ../shared beside the repo (or $FACETRAIN_SHARED): test data and weights, never copied into the repo. */
export const SHARED_DIR = path.resolve(process.env.FACETRAIN_SHARED ?? path.join(repoRoot, '..', 'shared'));

const present = existsSync(path.join(SHARED_DIR, 'datasets'));
if (!present && process.env.CI) {
  throw new Error(`CI=true but the shared test data is missing at ${SHARED_DIR}; CI must have ../shared beside the clone`);
}

/**
 * `skip` option for node:test: the reason when ../shared is absent (outside CI only), else false.
 * Use as `test('...', { skip: needsShared }, ...)`.
 */
export const needsShared: string | false = present ? false : `../shared not found at ${SHARED_DIR}; set FACETRAIN_SHARED to run this test`;

export function sharedPath(...parts: string[]): string {
  return path.join(SHARED_DIR, ...parts);
}

export const MOBILENET_035_DIR = sharedPath('weights', 'mobilenet_v2_0.35_224_no_top');
export const FIVE_CELEBRITIES = sharedPath('datasets', 'five-celebrities');

const madeTempDirs: string[] = [];
process.on('exit', () => {
  for (const dir of madeTempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh folder under the system temp directory, named for the test that uses it; removed when the test process exits. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `facetrain-${prefix}-`));
  madeTempDirs.push(dir);
  return dir;
}
