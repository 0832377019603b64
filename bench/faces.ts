import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFaceDetector } from '../src/faces/detect.js';
import { alignFace } from '../src/faces/align.js';
import { loadFaceRes } from '../src/base/faceres/faceres.js';
import { readImageFile } from '../src/image/decode.js';
import { sharedPath } from '../test/support/shared.js';
import { round, timeMs } from './timing.js';

const RUNS = 7;

const time = async (run: () => Promise<unknown>): Promise<number> => round(await timeMs(RUNS, run));

/** Per-face timings of the face pipeline on a one-face crop (bbt) and on a 1366x768 scene with 4 faces. */
export async function benchFaces(): Promise<Record<string, unknown>> {
  const [detector, embedder] = await Promise.all([loadFaceDetector(), loadFaceRes()]);
  try {
    const crop = await readImageFile(sharedPath('datasets', 'bbt', 'penny', 'penny1.png'));
    const scene = await readImageFile(sharedPath('datasets', 'bbt-scenes', 'bbt1.jpg'));
    const [face] = await detector.detect(crop);
    const aligned = await alignFace(crop, face, embedder.inputSize);
    const batch = Array.from({ length: 8 }, () => aligned);
    const sceneFaces = (await detector.detect(scene)).length;
    return {
      detectCrop150Ms: await time(() => detector.detect(crop)),
      detectScene1366x768MsPerFace: round((await time(() => detector.detect(scene))) / sceneFaces),
      sceneFaces,
      alignMsPerFace: await time(() => alignFace(crop, face, embedder.inputSize)),
      embedMsPerFaceBatch1: await time(() => embedder.embed([aligned])),
      embedMsPerFaceBatch8: round((await time(() => embedder.embed(batch))) / batch.length),
      runs: RUNS,
    };
  } finally {
    detector.dispose();
    embedder.dispose();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  console.log(JSON.stringify(await benchFaces(), null, 2));
}
