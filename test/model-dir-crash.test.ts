import assert from 'node:assert/strict';
import { cp, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadRecognizer } from '../src/recognize/recognizer.js';
import { SWAP_STEPS } from '../src/util/fs.js';
import { runFacetrain, runStoppedAtSwapStep } from './support/cli.js';
import { needsShared, tempDir } from './support/shared.js';
import { trainTinyModel, type TinyModel } from './support/tiny-model.js';

const PEOPLE = ['ben_afflek', 'elton_john', 'madonna'];
const FORGOTTEN = 'madonna';

let tiny: TinyModel | undefined;
async function faceModel(): Promise<TinyModel> {
  tiny ??= await trainTinyModel(PEOPLE, { base: 'faceres', photosPerPerson: 3 });
  return tiny;
}

/** Every file under `dir` (recursively), so a test can look for any copy of a person's data. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(p)));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

/** The gallery hashes of a person's photos: what identifies their data in any copy of the model. */
async function photoHashes(modelDir: string, person: string): Promise<string[]> {
  const gallery = JSON.parse(await readFile(path.join(modelDir, 'gallery.json'), 'utf8')) as { entries: { person: string; hash: string }[] };
  return gallery.entries.filter((e) => e.person === person).map((e) => e.hash);
}

async function assertNoTraceOf(root: string, person: string, hashes: string[]): Promise<void> {
  for (const file of await filesUnder(root)) {
    const text = await readFile(file, 'latin1');
    assert.ok(!text.includes(person), `${file} still names ${person}`);
    for (const h of hashes) assert.ok(!text.includes(h), `${file} still holds a photo of ${person}`);
  }
}

for (const step of SWAP_STEPS) {
  test(`forget killed (SIGKILL) after swap step "${step}": the model loads, with no leftover, and the person is gone or the forget can be rerun`, { skip: needsShared }, async () => {
    const { modelDir: trained } = await faceModel();
    const root = await tempDir('crash');
    const modelDir = path.join(root, 'model');
    await cp(trained, modelDir, { recursive: true });
    const hashes = await photoHashes(modelDir, FORGOTTEN);
    assert.ok(hashes.length > 0);

    const killed = runStoppedAtSwapStep(step, 'SIGKILL', ['forget', modelDir, FORGOTTEN]);
    assert.equal(killed.signal, 'SIGKILL', `the child stopped itself at ${step}: ${killed.stderr}`);

    const recognizer = await loadRecognizer(modelDir);
    const labels = recognizer.labels;
    recognizer.dispose();
    assert.deepEqual(await readdir(root), ['model'], 'no .tmp, .old or lock left beside the model after it is opened');
    const swapped = SWAP_STEPS.indexOf(step) >= SWAP_STEPS.indexOf('old-aside');
    if (swapped) assert.deepEqual(labels, PEOPLE.filter((p) => p !== FORGOTTEN));
    else {
      // killed before the old model was moved aside: the forget did not happen and is simply run again
      assert.deepEqual(labels, PEOPLE);
      const rerun = runFacetrain(['forget', modelDir, FORGOTTEN]);
      assert.equal(rerun.status, 0, rerun.stderr);
      assert.deepEqual(await readdir(root), ['model']);
    }
    await assertNoTraceOf(root, FORGOTTEN, hashes);
  });
}

test('SIGINT while train saves leaves no .tmp folder and no half model', { skip: needsShared }, async () => {
  const { root: data } = await faceModel();
  for (const step of ['tmp-created', 'filled'] as const) {
    const out = path.join(await tempDir('sigint'), 'model');
    const run = runStoppedAtSwapStep(step, 'SIGINT', ['train', path.join(data, 'data'), out]);
    assert.equal(run.status, 130, run.stderr);
    const left = await readdir(path.dirname(out));
    assert.deepEqual(left.filter((f) => f !== 'model'), [], `no .tmp or lock left after SIGINT at ${step}`);
    // the signal may land after the last step that can still undo the save: then the save completes
    if (left.includes('model')) (await loadRecognizer(out)).dispose();
  }
});

test('enroll and forget work after export (the export/ folder is dropped, not copied)', { skip: needsShared }, async () => {
  const { modelDir: trained, root: tinyRoot } = await faceModel();
  const modelDir = path.join(await tempDir('after-export'), 'model');
  await cp(trained, modelDir, { recursive: true });
  const exported = runFacetrain(['export', modelDir, '--format', 'tfjs']);
  assert.equal(exported.status, 0, exported.stderr);
  assert.ok((await stat(path.join(modelDir, 'export', 'tfjs', 'model.json'))).isFile());
  const forgot = runFacetrain(['forget', modelDir, FORGOTTEN]);
  assert.equal(forgot.status, 0, forgot.stderr);
  assert.ok(!(await readdir(modelDir)).includes('export'), 'the export, which still recognizes the person, is gone');
  const enrolled = runFacetrain(['enroll', modelDir, path.join(tinyRoot, 'data', FORGOTTEN)]);
  assert.equal(enrolled.status, 0, enrolled.stderr);
  assert.match(enrolled.stdout, /enrolled madonna: 3 photo/);
});
