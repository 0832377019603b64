import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { embeddingRow } from '../src/recognize/embedding-base.js';
import { facePipelineOn, type FacePipeline } from '../src/recognize/face-pipeline.js';
import { chooseRuntime } from '../src/runtime/choose.js';
import { DEFAULT_TARGET_FAR, DEFAULT_UNKNOWN_RULE } from '../src/evaluate/unknown-rule.js';
import { readImageFile, type RgbImage } from '../src/image/decode.js';
import { lfwPairs, openSetFigures, openSetProtocols, verificationFigures, type Embeddings } from '../bench/protocols.js';
import { needsShared, sharedPath } from './support/shared.js';

/**
 * The mobilefacenet base on the shared sets, as `npm run accuracy` measures it: every photo is
 * decoded, detected and embedded once and every figure below is computed from that one cache.
 * The open-set test runs the protocols that decided the base's floor and its weakest one (LFW,
 * bbt, five-celebrities: about 1,650 photos); `npm run accuracy` runs all five.
 */
const DATASETS = sharedPath('datasets');
const TEST_PROTOCOLS = ['lfw', 'bbt', 'five-celebrities'];
const protocols = () => openSetProtocols(DATASETS).filter((p) => TEST_PROTOCOLS.includes(p.name.split(' ')[0]!));
let base: FacePipeline;
const embeddings: Embeddings = new Map();

/** Faces are decoded and detected on this thread while onnxruntime embeds the previous batch on its own. */
async function embedAll(files: Iterable<string>): Promise<void> {
  let batch: { file: string; crop: RgbImage }[] = [];
  let embedding: Promise<void> = Promise.resolve();
  const flush = () => {
    const faces = batch;
    batch = [];
    const previous = embedding;
    embedding = (async () => {
      await previous;
      const out = await base.embedder.embed(faces.map((f) => f.crop));
      faces.forEach((f, i) => embeddings.set(f.file, out[i]!));
    })();
    // a failure surfaces at the final await, not as an unhandled rejection in between
    embedding.catch(() => undefined);
  };
  for (const file of files) {
    const image = await readImageFile(file);
    const [face] = await base.detector.detect(image);
    if (!face) {
      embeddings.set(file, null);
      continue;
    }
    batch.push({ file, crop: await base.aligner.align(image, face) });
    if (batch.length === 16) flush();
  }
  flush();
  await embedding;
}

before(async () => {
  if (needsShared) return;
  base = await facePipelineOn(await chooseRuntime(undefined), embeddingRow('mobilefacenet'));
  const { same, different } = lfwPairs(DATASETS);
  await embedAll(new Set([...same, ...different].flatMap((p) => [p.a, p.b]).concat(protocols().flatMap((p) => [...p.train.map((t) => t.file), ...p.known.map((k) => k.file), ...p.strangers]))));
});

after(() => {
  base?.dispose();
});

test('LFW pairs, 10-fold: mobilefacenet verifies >= 98 % (goal 99.3 %, not reached: 98.4 % measured)', { skip: needsShared }, (t) => {
  const lfw = verificationFigures(DATASETS, embeddings);
  t.diagnostic(JSON.stringify(lfw));
  assert.ok(lfw.tenFoldAccuracy >= 0.98, `10-fold accuracy ${lfw.tenFoldAccuracy}`);
  assert.ok(lfw.trueAcceptAtFar1 >= 0.97, `true-accept at 1 % false-accept ${lfw.trueAcceptAtFar1}`);
});

test('open set: at the threshold set from simulated strangers, <= 1 % of strangers and >= 95 % of known people are accepted on LFW, bbt and five-celebrities (goal 97 %: five-celebrities measured 95 %)', { skip: needsShared }, (t) => {
  const floor = base.row.unknownFloor;
  for (const protocol of protocols()) {
    const figures = openSetFigures(protocol, embeddings, floor, DEFAULT_TARGET_FAR);
    const at = figures.rules[DEFAULT_UNKNOWN_RULE].withSharedFloor!;
    t.diagnostic(`${protocol.name}: ${JSON.stringify(at)}, auroc ${figures.rules[DEFAULT_UNKNOWN_RULE].auroc}`);
    assert.ok(at.strangersAccepted <= 0.01, `${protocol.name}: strangers accepted ${at.strangersAccepted}`);
    assert.ok(at.knownAccepted >= 0.95, `${protocol.name}: known accepted ${at.knownAccepted}`);
  }
});
