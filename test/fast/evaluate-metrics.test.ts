import assert from 'node:assert/strict';
import { test } from 'node:test';
import { calibrateThreshold, evaluate, median } from '../../src/evaluate/metrics.js';
import { formatReport } from '../../src/evaluate/format.js';
import type { EvalSample } from '../../src/evaluate/types.js';
import { FacetrainError } from '../../src/errors.js';

const LABELS = ['ada', 'bob', 'cyd'];
const THRESHOLD = 0.5;

function sample(file: string, truth: string | null, predicted: string, score: number, ms?: number, faceFound = true): EvalSample {
  return { file, truth, predicted, score, faceFound, ...(ms === undefined ? {} : { ms }) };
}

/**
 * 3 people + 3 strangers, 12 photos. Decisions at t = 0.5 (accepted when score >= 0.5):
 *   a1 ada→ada 0.9 ✓   a2 ada→ada 0.6 ✓   a3 ada→bob 0.7 (wrong)
 *   b1 bob→bob 0.8 ✓   b2 bob→bob 0.4 (rejected)   b3 bob→cyd 0.3 (rejected)
 *   c1 cyd→cyd 0.7 ✓   c2 cyd→ada 0.5 (score == t: accepted, wrong)   c3 cyd: no face
 *   u1 ?→bob 0.7 (false accept)   u2 ?→cyd 0.4 (rejected)   u3 ?→ada 0.2 (rejected)
 */
const SAMPLES: EvalSample[] = [
  sample('a1.jpg', 'ada', 'ada', 0.9, 10),
  sample('a2.jpg', 'ada', 'ada', 0.6, 20),
  sample('a3.jpg', 'ada', 'bob', 0.7, 30),
  sample('b1.jpg', 'bob', 'bob', 0.8, 40),
  sample('b2.jpg', 'bob', 'bob', 0.4, 50),
  sample('b3.jpg', 'bob', 'cyd', 0.3, 60),
  sample('c1.jpg', 'cyd', 'cyd', 0.7, 70),
  sample('c2.jpg', 'cyd', 'ada', 0.5, 80),
  sample('c3.jpg', 'cyd', 'unknown', 0, 90, false),
  sample('u1.jpg', null, 'bob', 0.7, 100),
  sample('u2.jpg', null, 'cyd', 0.4, 200),
  sample('u3.jpg', null, 'ada', 0.2),
];

const report = evaluate(SAMPLES, LABELS, THRESHOLD);

function assertClose(actual: number | null, expected: number, what: string): void {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-12, `${what}: expected ${expected}, got ${actual}`);
}

test('counts photos and faces not found', () => {
  assert.equal(report.totalSamples, 12);
  assert.equal(report.facesNotFound, 1);
  assert.equal(report.openSet.knownSamples, 8);
  assert.equal(report.openSet.unknownSamples, 3);
});

test('top-1 accuracy is closed-set over known people with a face: 5 of 8', () => {
  assertClose(report.top1Accuracy, 5 / 8, 'top1');
});

test('confusion matrix uses the thresholded answer and has an unknown row and column', () => {
  assert.deepEqual(report.confusion.rows, ['ada', 'bob', 'cyd', 'unknown']);
  assert.deepEqual(report.confusion.columns, ['ada', 'bob', 'cyd', 'unknown']);
  assert.deepEqual(report.confusion.counts, [
    [2, 1, 0, 0],
    [0, 1, 0, 2],
    [1, 0, 1, 0],
    [0, 1, 0, 2],
  ]);
});

test('per-person precision, recall, F1 and support', () => {
  const expected = [
    // ada: 2 right of 3 answered "ada" (a1 a2 c2) and of 3 ada photos.
    { label: 'ada', precision: 2 / 3, recall: 2 / 3, f1: 2 / 3, support: 3 },
    // bob: answered for a3, b1, u1 (a stranger counts against precision); b2, b3 rejected.
    { label: 'bob', precision: 1 / 3, recall: 1 / 3, f1: 1 / 3, support: 3 },
    // cyd: answered only for c1; c3 had no face, so support 2.
    { label: 'cyd', precision: 1, recall: 1 / 2, f1: 2 / 3, support: 2 },
  ];
  assert.equal(report.perPerson.length, expected.length);
  report.perPerson.forEach((actual, i) => {
    const want = expected[i]!;
    assert.equal(actual.label, want.label);
    assert.equal(actual.support, want.support);
    assertClose(actual.precision, want.precision, `${want.label} precision`);
    assertClose(actual.recall, want.recall, `${want.label} recall`);
    assertClose(actual.f1, want.f1, `${want.label} F1`);
  });
  assertClose(report.macroF1, 5 / 9, 'macro F1');
});

test('open-set rates at the threshold', () => {
  assertClose(report.openSet.correctAcceptRate, 4 / 8, 'correct accept (a1 a2 b1 c1)');
  assertClose(report.openSet.knownAcceptRate, 6 / 8, 'known accept (all but b2 b3)');
  assertClose(report.openSet.falseAcceptRate, 1 / 3, 'false accept (u1)');
});

test('ROC points and AUROC with tied scores count ties as half', () => {
  // Positives (known): .9 .6 .7 .8 .4 .3 .7 .5; negatives (unknown): .7 .4 .2.
  const expectedPoints = [
    [null, 0, 0],
    [0.9, 0, 1 / 8],
    [0.8, 0, 2 / 8],
    [0.7, 1 / 3, 4 / 8],
    [0.6, 1 / 3, 5 / 8],
    [0.5, 1 / 3, 6 / 8],
    [0.4, 2 / 3, 7 / 8],
    [0.3, 2 / 3, 1],
    [0.2, 1, 1],
  ];
  assert.ok(report.roc !== null);
  assert.deepEqual(
    report.roc.map((p) => [p.threshold, p.falsePositiveRate, p.truePositiveRate]),
    expectedPoints,
  );
  // Mann-Whitney over 8 x 3 pairs: vs .7 → 2 wins + 2 ties = 3; vs .4 → 6 wins + 1 tie = 6.5; vs .2 → 8. 17.5 / 24.
  assertClose(report.auroc, 35 / 48, 'AUROC');
});

test('timings: mean and median over samples that report ms', () => {
  assert.deepEqual(report.timing, { samples: 11, meanMs: 750 / 11, medianMs: 60 });
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

test('without unknown people there is no unknown row, no ROC and no false-accept rate', () => {
  const knownOnly = evaluate(SAMPLES.filter((s) => s.truth !== null), LABELS, THRESHOLD);
  assert.deepEqual(knownOnly.confusion.rows, ['ada', 'bob', 'cyd']);
  assert.equal(knownOnly.roc, null);
  assert.equal(knownOnly.auroc, null);
  assert.equal(knownOnly.openSet.falseAcceptRate, null);
  // Without strangers, bob's precision loses u1: 1 right of 2 answered (a3, b1).
  assertClose(knownOnly.perPerson[1]!.precision, 1 / 2, 'bob precision');
});

test('rejects samples that do not match the labels and bad thresholds', () => {
  const stranger = sample('x.jpg', 'zed', 'ada', 0.9);
  assert.throws(() => evaluate([stranger], LABELS, THRESHOLD), (e: unknown) => e instanceof FacetrainError && e.code === 'FT_ERR_DATASET' && e.message.includes('x.jpg'));
  assert.throws(() => evaluate([sample('y.jpg', 'ada', 'zed', 0.9)], LABELS, THRESHOLD), (e: unknown) => e instanceof FacetrainError && e.code === 'FT_ERR_MODEL');
  assert.throws(() => evaluate(SAMPLES, LABELS, 1.5), (e: unknown) => e instanceof FacetrainError && e.code === 'FT_ERR_INVALID_OPTION');
  assert.throws(() => evaluate(SAMPLES, ['ada', 'unknown'], THRESHOLD), (e: unknown) => e instanceof FacetrainError);
});

test('calibrateThreshold without unknowns keeps the target share of known scores', () => {
  const known = [0.9, 0.8, 0.7, 0.6, 0.5];
  assert.deepEqual(calibrateThreshold(known, [], { targetKnownAcceptance: 0.8 }), { threshold: 0.6, knownAcceptance: 0.8, unknownRejection: null });
  // Default 0.95 of 5 photos needs all 5.
  assert.equal(calibrateThreshold(known).threshold, 0.5);
  // 0.95 * 20 must need 19 photos, not 20 (floating point).
  const twenty = Array.from({ length: 20 }, (_, i) => (i + 1) / 20);
  assert.equal(calibrateThreshold(twenty).threshold, 0.1);
});

test('calibrateThreshold with unknowns maximises balanced accuracy under the known-acceptance target', () => {
  const known = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05];
  // Target 0.6 allows t <= 0.4. t=0.4: (0.6 + 3/4)/2 = 0.675; t=0.3: (0.7 + 3/4)/2 = 0.725 (best);
  // t=0.25: (0.7 + 2/4)/2 = 0.6; ... t=0.05: (1 + 0)/2 = 0.5.
  const unknown = [0.95, 0.25, 0.22, 0.21];
  assert.deepEqual(calibrateThreshold(known, unknown, { targetKnownAcceptance: 0.6 }), { threshold: 0.3, knownAcceptance: 0.7, unknownRejection: 0.75 });
  // Strangers scoring above every known photo cannot be rejected, so keep every known photo.
  assert.deepEqual(calibrateThreshold(known, [0.97, 0.95], { targetKnownAcceptance: 0.7 }), { threshold: 0.05, knownAcceptance: 1, unknownRejection: 0 });
  assert.throws(() => calibrateThreshold([]), (e: unknown) => e instanceof FacetrainError && e.code === 'FT_ERR_DATASET');
  assert.throws(() => calibrateThreshold(known, [], { targetKnownAcceptance: 0 }), (e: unknown) => e instanceof FacetrainError && e.code === 'FT_ERR_INVALID_OPTION');
});

test('terminal table: plain text without colour, ANSI only when asked', () => {
  const plainText = formatReport(report, { color: false });
  assert.ok(!plainText.includes('\x1b['), 'no escape codes without colour');
  assert.match(plainText, /Top-1 accuracy \(known people\): 62\.5%/);
  assert.match(plainText, /correct accept 50\.0% of 8 known, false accept 33\.3% of 3 unknown/);
  assert.match(plainText, /AUROC known vs unknown: 0\.729/);
  assert.match(plainText, /^cyd\s+1\.000\s+0\.500\s+0\.667\s+2$/m);
  assert.match(plainText, /^unknown\s+0\s+1\s+0\s+2$/m);
  const coloured = formatReport(report, { color: true });
  assert.ok(coloured.includes('\x1b[32m') && coloured.includes('\x1b[31m'));
  assert.equal(coloured.replace(/\x1b\[\d+m/g, ''), plainText, 'colour changes nothing but escape codes');
});
