import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { loadFaceDetector, type FaceDetector } from '../src/faces/detect.js';
import { TRAIN_DEFAULTS } from '../src/base/index.js';
import { loadRecognizer, type StreamingRecognizer } from '../src/recognize/recognizer.js';
import { movingFaceFrames } from './support/moving-face.js';
import { needsShared } from './support/shared.js';
import { celebrityPhotos, trainTinyModel, type TinyModel } from './support/tiny-model.js';

const PEOPLE = ['ben_afflek', 'madonna', 'mindy_kaling'];

describe('camera streams: frames searched around the faces before give the answers of a full search', { skip: needsShared }, () => {
  let model: TinyModel;
  let recognizer: StreamingRecognizer;
  let detector: FaceDetector;
  before(async () => {
    model = await trainTinyModel(PEOPLE, { base: TRAIN_DEFAULTS.base });
    recognizer = await loadRecognizer(model.modelDir);
    detector = await loadFaceDetector({}, 'onnx');
  });
  after(async () => {
    recognizer?.dispose();
    detector?.dispose();
    if (model) await rm(model.root, { recursive: true, force: true });
  });

  test('three people walking past a 640x480 camera at three sizes: same labels, boxes within 1.5 px, scores within 0.01', async () => {
    let tracked = 0;
    let frames = 0;
    for (const person of PEOPLE) {
      for (const photoSide of [200, 300, 420]) {
        const stream = recognizer.stream();
        for (const [f, frame] of (await movingFaceFrames((await celebrityPhotos(person, 1, 'val'))[0]!, { photoSide })).entries()) {
          const full = await recognizer.predict(frame);
          const streamed = await stream.predict(frame);
          const where = `${person} at ${photoSide} px, frame ${f} (${stream.lastSearch})`;
          frames += 1;
          if (stream.lastSearch === 'around') tracked += 1;
          assert.equal(streamed.length, full.length, `${where}: as many faces`);
          assert.ok(full.length > 0, `${where}: a face`);
          streamed.forEach((face, i) => {
            const { box, label, score } = full[i]!;
            assert.equal(face.label, label, where);
            const edge = Math.max(Math.abs(face.box.x - box.x), Math.abs(face.box.y - box.y), Math.abs(face.box.x + face.box.width - box.x - box.width), Math.abs(face.box.y + face.box.height - box.y - box.height));
            assert.ok(edge <= 1.5, `${where}: box edges ${edge.toFixed(2)} px from the full search's`);
            assert.ok(Math.abs(face.score - score) <= 0.01, `${where}: score ${face.score} vs ${score}`);
          });
        }
      }
    }
    // every tenth frame is a full search; the others are tracked
    assert.ok(tracked >= frames * 0.8, `${tracked} of ${frames} frames searched around the faces before`);
  });

  test('a face that leaves is searched for in full, and the stream finds nothing where a full search finds nothing', async () => {
    const [frame] = await movingFaceFrames((await celebrityPhotos('madonna', 1, 'val'))[0]!, { photoSide: 300, frames: 1 });
    const empty = { data: new Uint8Array(640 * 480 * 3).fill(120), width: 640, height: 480 };
    const stream = recognizer.stream();
    assert.equal((await stream.predict(frame!)).length, 1);
    assert.equal(stream.lastSearch, 'full');
    assert.equal((await stream.predict(frame!)).length, 1);
    assert.equal(stream.lastSearch, 'around');
    assert.deepEqual(await stream.predict(empty), await recognizer.predict(empty));
    assert.equal(stream.lastSearch, 'full', 'the face was lost: the frame is searched in full');
    assert.equal((await stream.predict(frame!)).length, 1);
    assert.equal(stream.lastSearch, 'full', 'no face before: a full search');
  });
});
