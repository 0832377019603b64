import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFaceDetector } from '../src/faces/detect.js';
import { alignFace } from '../src/faces/align.js';
import { loadFaceRes } from '../src/base/faceres.js';
import { readImageFile } from '../src/image/decode.js';
import { sharedPath } from '../test/support/shared.js';
import { median } from '../src/evaluate/metrics.js';

const RUNS = 7;

/** Median ms of `RUNS` timed calls after one warm-up call. */
async function time(run: () => Promise<unknown>): Promise<number> {
  await run();
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    await run();
    ms.push(performance.now() - start);
  }
  return Math.round(median(ms) * 10) / 10;
}

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
      detectScene1366x768MsPerFace: Math.round(((await time(() => detector.detect(scene))) / sceneFaces) * 10) / 10,
      sceneFaces,
      alignMsPerFace: await time(() => alignFace(crop, face, embedder.inputSize)),
      embedMsPerFaceBatch1: await time(() => embedder.embed([aligned])),
      embedMsPerFaceBatch8: Math.round(((await time(() => embedder.embed(batch))) / batch.length) * 10) / 10,
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
