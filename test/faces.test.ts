import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { loadFaceDetector, LANDMARK, type DetectedFace, type FaceDetector } from '../src/faces/detect.js';
import { alignFace, alignedEyePositions, alignmentTransform, applyAffine } from '../src/faces/align.js';
import { FACERES_EMBEDDING_OUTPUT, loadFaceRes } from '../src/base/faceres/faceres.js';
import type { FaceEmbedder } from '../src/faces/embedder.js';
import { readImageFile, type RgbImage } from '../src/image/decode.js';
import { FacetrainError } from '../src/errors.js';
import { needsShared, sharedPath } from './support/shared.js';

const DATASETS = sharedPath('datasets');

/** Counted by eye; bbt2's profile at the right edge and the backs of heads are not faces to find. */
const SCENE_FACES: Record<string, number> = {
  'angry.jpg': 1, 'disgusted.jpg': 1, 'fearful.jpg': 1, 'happy.jpg': 1, 'neutral.jpg': 1, 'sad.jpg': 1, 'surprised.jpg': 1,
  'bbt1.jpg': 4, 'bbt2.jpg': 3, 'bbt3.jpg': 5, 'bbt4.jpg': 6, 'bbt5.jpg': 5,
};

interface Sample {
  file: string;
  person: string;
  train: boolean;
}

const byName = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });
const list = (dir: string): string[] => readdirSync(dir).filter((f) => f !== 'README').sort(byName);

/** The first `trainPerPerson` images of each person (in name order) train, the rest test. */
function perPersonSplit(dir: string, trainPerPerson: number, people = list(dir)): Sample[] {
  return people.flatMap((person) => list(path.join(dir, person)).map((f, i) => ({ file: path.join(dir, person, f), person, train: i < trainPerPerson })));
}

function fiveCelebrities(): Sample[] {
  return ['train', 'val'].flatMap((split) => {
    const dir = path.join(DATASETS, 'five-celebrities', split);
    return list(dir).flatMap((person) => list(path.join(dir, person)).map((f) => ({ file: path.join(dir, person, f), person, train: split === 'train' })));
  });
}

const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i], 0);

function normalisedMean(vectors: Float32Array[]): Float32Array {
  const sum = vectors.reduce((acc, v) => acc.map((x, i) => x + v[i]), new Float32Array(vectors[0].length));
  const norm = Math.sqrt(dot(sum, sum));
  return sum.map((x) => x / norm);
}

/** Nearest class centroid (cosine) of the training embeddings; fraction of test samples right. */
function centroidAccuracy(samples: Sample[], embeddings: Float32Array[]): number {
  const people = [...new Set(samples.map((s) => s.person))];
  const centroids = people.map((p) => normalisedMean(embeddings.filter((_, i) => samples[i].train && samples[i].person === p)));
  const tests = samples.map((s, i) => ({ s, e: embeddings[i] })).filter(({ s }) => !s.train);
  const right = tests.filter(({ s, e }) => {
    const scores = centroids.map((c) => dot(c, e));
    return people[scores.indexOf(Math.max(...scores))] === s.person;
  });
  return right.length / tests.length;
}

let detector: FaceDetector;
let embedder: FaceEmbedder;
const detections = new Map<string, DetectedFace[]>();

async function detectFile(file: string): Promise<{ image: RgbImage; faces: DetectedFace[] }> {
  const image = await readImageFile(file);
  if (!detections.has(file)) detections.set(file, await detector.detect(image));
  return { image, faces: detections.get(file)! };
}

async function embedLargestFaces(samples: Sample[]): Promise<Float32Array[]> {
  const aligned: RgbImage[] = [];
  for (const s of samples) {
    const { image, faces } = await detectFile(s.file);
    assert.ok(faces.length > 0, `no face in ${s.file}`);
    aligned.push(await alignFace(image, faces[0], embedder.inputSize));
  }
  return embedder.embed(aligned);
}

before(async () => {
  if (needsShared) return;
  [detector, embedder] = await Promise.all([loadFaceDetector(), loadFaceRes()]);
});

after(() => {
  detector?.dispose();
  embedder?.dispose();
});

test('finds the faces counted by eye in every bbt scene, largest first', { skip: needsShared }, async () => {
  for (const [scene, expected] of Object.entries(SCENE_FACES)) {
    const { image, faces } = await detectFile(path.join(DATASETS, 'bbt-scenes', scene));
    assert.equal(faces.length, expected, `${scene}: ${faces.length} faces, expected ${expected}`);
    for (let i = 1; i < faces.length; i++) assert.ok(faces[i - 1].box.width * faces[i - 1].box.height >= faces[i].box.width * faces[i].box.height);
    for (const f of faces) {
      assert.ok(f.score >= detector.config.minScore && f.score <= 1);
      assert.ok(f.landmarks.length >= 4);
      const [left, right] = [f.landmarks[LANDMARK.imageLeftEye], f.landmarks[LANDMARK.imageRightEye]];
      assert.ok(left[0] < right[0], `${scene}: eyes in image order`);
      for (const [x, y] of f.landmarks.slice(0, 4)) {
        assert.ok(x >= f.box.x - 0.1 * f.box.width && x <= f.box.x + 1.1 * f.box.width && y >= f.box.y && y <= f.box.y + f.box.height, `${scene}: landmark inside its box`);
      }
      assert.ok(f.box.x + f.box.width > 0 && f.box.x < image.width && f.box.y + f.box.height > 0 && f.box.y < image.height);
    }
  }
});

test('tiling finds small faces that the whole-image pass misses', { skip: needsShared }, async () => {
  // bbt4 at half size (faces ~45-55 px) in the corner region of a 1600x1200 canvas.
  const scene = await readImageFile(path.join(DATASETS, 'bbt-scenes', 'bbt4.jpg'));
  const small = await sharp(scene.data, { raw: { width: scene.width, height: scene.height, channels: 3 } }).resize(Math.round(scene.width / 2)).raw().toBuffer({ resolveWithObject: true });
  const canvas = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: '#777777' } })
    .composite([{ input: small.data, raw: small.info, left: 700, top: 600 }])
    .removeAlpha()
    .raw()
    .toBuffer();
  const image = { data: new Uint8Array(canvas), width: 1600, height: 1200 };
  // most faces are below the default smallest face (1/20 of the shorter side, 60 px here), which the
  // default drops: searching down to 40 px at any photo size is minFaceFraction 0
  const byDefault = await detector.detect(image);
  assert.ok(byDefault.length < 6 && byDefault.every((f) => f.box.width >= 60), 'faces below the default rule are dropped');
  const smallFaces = await loadFaceDetector({ minFaceFraction: 0 });
  const untiled = await loadFaceDetector({ minFaceFraction: 0, minFaceSize: 10_000 });
  try {
    const faces = await smallFaces.detect(image);
    assert.equal(faces.length, 6);
    for (const f of faces) assert.ok(f.box.x > 690 && f.box.y > 590, 'every face lies in the pasted scene');
    assert.ok((await untiled.detect(image)).length < 6);
  } finally {
    smallFaces.dispose();
    untiled.dispose();
  }
});

test('finds a face in every five-celebrities, bbt, ORL and Yale image', { skip: needsShared }, async () => {
  const files = [
    ...fiveCelebrities().map((s) => s.file),
    ...perPersonSplit(path.join(DATASETS, 'bbt'), 0).map((s) => s.file),
    ...perPersonSplit(path.join(DATASETS, 'orl'), 0).map((s) => s.file),
    ...perPersonSplit(path.join(DATASETS, 'yale'), 0).map((s) => s.file),
  ];
  assert.equal(files.length, 118 + 40 + 400 + 164);
  const missed: string[] = [];
  for (const file of files) if ((await detectFile(file)).faces.length === 0) missed.push(path.relative(DATASETS, file));
  assert.deepEqual(missed, []);
});

test('alignment puts the eyes level at fixed positions', { skip: needsShared }, async (t) => {
  const size = 224;
  let worst = 0;
  const target = alignedEyePositions(size);
  for (const person of list(path.join(DATASETS, 'bbt'))) {
    const file = path.join(DATASETS, 'bbt', person, `${person}1.png`);
    const { image, faces } = await detectFile(file);
    const transform = alignmentTransform(faces[0], size);
    const moved = [LANDMARK.imageLeftEye, LANDMARK.imageRightEye].map((k) => applyAffine(transform, faces[0].landmarks[k]));
    moved.forEach((p, i) => assert.ok(Math.hypot(p[0] - target[i][0], p[1] - target[i][1]) < 1e-6));
    // Independent check: the detector, run again on the aligned crop, sees the eyes where we put them.
    const aligned = await alignFace(image, faces[0], size);
    const again = await detector.detect(aligned);
    assert.ok(again.length >= 1, `${person}: face still found after alignment`);
    const eyes = [again[0].landmarks[LANDMARK.imageLeftEye], again[0].landmarks[LANDMARK.imageRightEye]];
    eyes.forEach((p, i) => {
      const off = Math.hypot(p[0] - target[i][0], p[1] - target[i][1]);
      worst = Math.max(worst, off);
      assert.ok(off < 0.05 * size, `${person}: eye ${i} at ${p}, expected ${target[i]}`);
    });
    const tilt = Math.abs(Math.atan2(eyes[1][1] - eyes[0][1], eyes[1][0] - eyes[0][0])) * (180 / Math.PI);
    assert.ok(tilt < 6, `${person}: eye line tilted ${tilt.toFixed(1)}°`);
  }
  t.diagnostic(`re-detected eyes at most ${worst.toFixed(1)} px from their targets in ${size} px crops`);
});

test('embeddings are unit length and closer within a person than across (bbt)', { skip: needsShared }, async () => {
  assert.equal(embedder.dims, 1024);
  assert.equal(embedder.inputSize, 224);
  assert.equal(embedder.model!.outputNodes.includes(FACERES_EMBEDDING_OUTPUT), true);
  const samples = perPersonSplit(path.join(DATASETS, 'bbt'), 0);
  const embeddings = await embedLargestFaces(samples);
  for (const e of embeddings) {
    assert.equal(e.length, 1024);
    assert.ok(Math.abs(Math.sqrt(dot(e, e)) - 1) < 1e-4);
  }
  let same = 0;
  let sameCount = 0;
  let different = 0;
  let differentCount = 0;
  let nearestIsSamePerson = 0;
  for (let i = 0; i < samples.length; i++) {
    let best = -1;
    for (let j = 0; j < samples.length; j++) {
      if (i === j) continue;
      const s = dot(embeddings[i], embeddings[j]);
      if (samples[i].person === samples[j].person) [same, sameCount] = [same + s, sameCount + 1];
      else [different, differentCount] = [different + s, differentCount + 1];
      if (best < 0 || s > dot(embeddings[i], embeddings[best])) best = j;
    }
    if (samples[best].person === samples[i].person) nearestIsSamePerson++;
  }
  assert.ok(same / sameCount > different / differentCount + 0.15, `same ${same / sameCount}, different ${different / differentCount}`);
  assert.ok(nearestIsSamePerson / samples.length >= 0.95);
});

test('mirrored-average embeddings stay unit length and agree with plain ones', { skip: needsShared }, async () => {
  const flipping = await loadFaceRes({ flipAverage: true });
  try {
    const { image, faces } = await detectFile(path.join(DATASETS, 'bbt', 'penny', 'penny1.png'));
    const face = await alignFace(image, faces[0], flipping.inputSize);
    const [averaged] = await flipping.embed([face]);
    const [plain] = await embedder.embed([face]);
    assert.ok(Math.abs(Math.sqrt(dot(averaged, averaged)) - 1) < 1e-4);
    assert.ok(dot(averaged, plain) > 0.9);
  } finally {
    flipping.dispose();
  }
});

const ACCURACY_CASES: Array<{ name: string; samples: () => Sample[]; atLeast: number }> = [
  { name: 'five-celebrities train -> val', samples: fiveCelebrities, atLeast: 0.96 },
  { name: 'bbt 3 train / 2 test per person', samples: () => perPersonSplit(path.join(DATASETS, 'bbt'), 3), atLeast: 0.95 },
  // s1..s20 of the 40 ORL people keeps this file within its time budget.
  { name: 'ORL s1-s20, 5 train / 5 test', samples: () => perPersonSplit(path.join(DATASETS, 'orl'), 5, Array.from({ length: 20 }, (_, i) => `s${i + 1}`)), atLeast: 0.97 },
  { name: 'Yale 6 train / 5 test', samples: () => perPersonSplit(path.join(DATASETS, 'yale'), 6), atLeast: 0.9 },
];

for (const { name, samples, atLeast } of ACCURACY_CASES) {
  test(`detect + align + FaceRes, nearest centroid: ${name} >= ${atLeast * 100} %`, { skip: needsShared }, async (t) => {
    const all = samples();
    const accuracy = centroidAccuracy(all, await embedLargestFaces(all));
    t.diagnostic(`${name}: ${(accuracy * 100).toFixed(1)} % of ${all.filter((s) => !s.train).length} test faces`);
    assert.ok(accuracy >= atLeast, `${name}: accuracy ${(accuracy * 100).toFixed(1)} %`);
  });
}

test('rejects invalid detector settings and missing models with FacetrainError', async () => {
  await assert.rejects(loadFaceDetector({ minScore: 1.5 }), (err) => err instanceof FacetrainError && err.code === 'FT_ERR_INVALID_OPTION');
  await assert.rejects(loadFaceRes({ modelsDir: '/nonexistent' }), (err) => err instanceof FacetrainError && err.code === 'FT_ERR_MODEL');
});
