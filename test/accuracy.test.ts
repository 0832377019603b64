import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { embedLargestFace, loadEmbeddingBase, type EmbeddingBase } from '../src/recognize/embedding-base.js';
import { chooseRuntime } from '../src/runtime/choose.js';
import { DEFAULT_TARGET_FAR, DEFAULT_UNKNOWN_RULE } from '../src/evaluate/unknown-rule.js';
import { loadFaceDetector, type FaceDetector } from '../src/faces/detect.js';
import { readImageFile } from '../src/image/decode.js';
import { lfwPairs, openSetFigures, openSetProtocols, verificationFigures, type Embeddings } from '../bench/protocols.js';
import { needsShared, sharedPath } from './support/shared.js';

/**
 * The default base on the shared sets, as `npm run accuracy` measures it: every photo is embedded
 * once (about 2,200) and every figure below is computed from that one cache.
 */
const DATASETS = sharedPath('datasets');
let base: EmbeddingBase;
let detector: FaceDetector;
const embeddings: Embeddings = new Map();

before(async () => {
  if (needsShared) return;
  base = await loadEmbeddingBase('mobilefacenet', await chooseRuntime(undefined));
  detector = await loadFaceDetector();
  const { same, different } = lfwPairs(DATASETS);
  const protocols = openSetProtocols(DATASETS);
  const files = new Set([...same, ...different].flatMap((p) => [p.a, p.b]).concat(protocols.flatMap((p) => [...p.train.map((t) => t.file), ...p.known.map((k) => k.file), ...p.strangers])));
  for (const file of files) embeddings.set(file, (await embedLargestFace(base, detector, await readImageFile(file)))?.embedding ?? null);
});

after(() => {
  base?.dispose();
  detector?.dispose();
});

test('LFW pairs, 10-fold: the default base verifies >= 98 % (goal 99.3 %, not reached: 98.4 % measured)', { skip: needsShared }, (t) => {
  const lfw = verificationFigures(DATASETS, embeddings);
  t.diagnostic(JSON.stringify(lfw));
  assert.equal(base.name, 'mobilefacenet');
  assert.ok(lfw.tenFoldAccuracy >= 0.98, `10-fold accuracy ${lfw.tenFoldAccuracy}`);
  assert.ok(lfw.trueAcceptAtFar1 >= 0.97, `true-accept at 1 % false-accept ${lfw.trueAcceptAtFar1}`);
});

test('open set: at the threshold set from simulated strangers, <= 1 % of strangers and >= 95 % of known people are accepted on every protocol (goal 97 %: five-celebrities measured 95 %)', { skip: needsShared }, (t) => {
  const floor = base.row.unknownFloor;
  for (const protocol of openSetProtocols(DATASETS)) {
    const figures = openSetFigures(protocol, embeddings, floor, DEFAULT_TARGET_FAR);
    const at = figures.rules[DEFAULT_UNKNOWN_RULE].withSharedFloor!;
    t.diagnostic(`${protocol.name}: ${JSON.stringify(at)}, auroc ${figures.rules[DEFAULT_UNKNOWN_RULE].auroc}`);
    assert.ok(at.strangersAccepted <= 0.01, `${protocol.name}: strangers accepted ${at.strangersAccepted}`);
    assert.ok(at.knownAccepted >= 0.95, `${protocol.name}: known accepted ${at.knownAccepted}`);
  }
});
