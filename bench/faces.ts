import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFaceDetector } from '../src/faces/detect.js';
import { alignFace } from '../src/faces/align.js';
import { loadFaceAligner } from '../src/faces/cropper.js';
import { blazeFaceOnnx } from '../src/faces/blazeface-onnx.js';
import { loadHumanModel } from '../src/faces/human-models.js';
import { landmarkModelPath } from '../src/faces/landmarks.js';
import { loadFaceRes } from '../src/base/faceres/faceres.js';
import { MOBILEFACENET_BASE } from '../src/base/mobilefacenet/index.js';
import { loadMobileFaceNet, MOBILEFACENET_NORMALISATION, mobileFaceNetOnnx } from '../src/base/mobilefacenet/mobilefacenet.js';
import { readImageFile, resizeSquare, type RgbImage } from '../src/image/decode.js';
import { embeddingInputSpec } from '../src/recognize/face-pipeline.js';
import { createOnnxSession, loadOnnxRuntime, onnxChannelBlock, onnxRuntime, type OnnxSession } from '../src/runtime/onnxruntime.js';
import type { OnnxRuntime } from '../src/runtime/runtime.js';
import { sharedPath } from '../test/support/shared.js';
import { calibratedInt8Onnx, previousOnnx, reluForPrelu } from './onnx-rewrites.js';
import { interleavedMs, round, timeMs } from './timing.js';

const RUNS = 7;
/** Rounds of the network timings: each round runs every variant once, so load changes hit them alike. */
const NETWORK_ROUNDS = 25;

const time = async (run: () => Promise<unknown>): Promise<number> => round(await timeMs(RUNS, run));

/** Median ms per call of each session on the same input, timed in interleaved rounds after one warm-up call each. */
function interleaved(sessions: { name: string; session: OnnxSession }[], input: Float32Array, shape: number[], perCall: number): Promise<Record<string, number>> {
  return interleavedMs(NETWORK_ROUNDS, Object.fromEntries(sessions.map(({ name, session }) => [name, () => session.run(input, shape)])), perCall);
}

/** One network as built now and before, on 1 and 2 threads (idle threads sleep, as facetrain runs them). */
async function beforeAfter(ort: OnnxRuntime, now: Uint8Array, input: Float32Array, shape: number[], perCall: number): Promise<Record<string, number>> {
  const before = previousOnnx(now);
  const sessions: { name: string; session: OnnxSession }[] = [];
  for (const threads of [1, 2]) {
    sessions.push({ name: `now${threads}Thread`, session: await createOnnxSession(ort, now, { threads, spinning: 'never' }) });
    sessions.push({ name: `before${threads}Thread`, session: await createOnnxSession(ort, before, { threads, spinning: 'never' }) });
  }
  try {
    const ms = await interleaved(sessions, input, shape, perCall);
    return { ...ms, ratio1Thread: round(ms.now1Thread! / ms.before1Thread!), ratio2Threads: round(ms.now2Thread! / ms.before2Thread!) };
  } finally {
    sessions.forEach((s) => s.session.release());
  }
}

/** float32 vs its int8 QDQ rewrite (calibrated on the timed input), one thread each, interleaved. */
async function float32VsInt8(ort: OnnxRuntime, float32: Uint8Array, input: Float32Array, shape: number[], perCall: number): Promise<Record<string, number>> {
  const int8 = await calibratedInt8Onnx(ort, float32, [input], shape);
  const sessions = await Promise.all([float32, int8].map((bytes) => createOnnxSession(ort, bytes, { threads: 1, spinning: 'never' })));
  try {
    const ms = await interleaved([{ name: 'float32', session: sessions[0]! }, { name: 'int8', session: sessions[1]! }], input, shape, perCall);
    return { ...ms, ratio: round(ms.int8! / ms.float32!) };
  } finally {
    sessions.forEach((session) => session.release());
  }
}

function mirrored(face: RgbImage): Float32Array {
  const { width, height, data } = face;
  const out = new Float32Array(data.length);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) out[(y * width + width - 1 - x) * 3 + c] = data[(y * width + x) * 3 + c]!;
  return out;
}

/** Largest |a - b| over two runs of the embedder's two graphs on the same faces, after L2 normalisation of each row. */
function maxNormalisedDiff(a: Float32Array, b: Float32Array, dims: number): number {
  let max = 0;
  for (let row = 0; row < a.length / dims; row++) {
    const norm = (v: Float32Array): number => Math.hypot(...v.subarray(row * dims, (row + 1) * dims));
    const [na, nb] = [norm(a), norm(b)];
    for (let i = row * dims; i < (row + 1) * dims; i++) max = Math.max(max, Math.abs(a[i]! / na - b[i]! / nb));
  }
  return max;
}

/**
 * Each network on onnxruntime, ms per face (MobileFaceNet: the face and its mirror image in one run,
 * as the embedder runs them; also one image alone) and per 256 px view (BlazeFace: one view, and a
 * 640x480 frame's three in one run), as built now and before, 1 and 2 threads, in one process.
 */
async function benchNetworks(crop: RgbImage, face: RgbImage): Promise<Record<string, unknown>> {
  const ort = (await loadOnnxRuntime())!;
  const { scale, offset } = MOBILEFACENET_NORMALISATION;
  const size = face.width;
  const pixels = Float32Array.from(face.data, (v) => v * scale + offset);
  const pair = new Float32Array(2 * pixels.length);
  pair.set(pixels);
  pair.set(mirrored(face).map((v) => v * scale + offset), pixels.length);
  const mobileFaceNet = await mobileFaceNetOnnx();
  const batch32 = new Float32Array(16 * pair.length).map((_, i) => pair[i % pair.length]!);
  const [nowSession, beforeSession] = await Promise.all([mobileFaceNet, previousOnnx(mobileFaceNet)].map((bytes) => createOnnxSession(ort, bytes, { threads: 1, spinning: 'never' })));
  const [nowOut] = await nowSession.run(pair, [2, size, size, 3]);
  const [beforeOut] = await beforeSession.run(pair, [2, size, size, 3]);
  nowSession.release();
  beforeSession.release();
  const view = await resizeSquare(crop, 256);
  const viewValues = Float32Array.from(view.data, (v) => v / 127.5 - 1);
  const frameViews = new Float32Array(3 * viewValues.length).map((_, i) => viewValues[i % viewValues.length]!);
  const blazeFaceModel = await loadHumanModel('blazeface');
  const blazeFace = blazeFaceOnnx(blazeFaceModel);
  const landmarks = new Uint8Array(await readFile(landmarkModelPath()));
  const small = await resizeSquare(crop, 64);
  const grey = Float32Array.from({ length: 64 * 64 }, (_, i) => small.data[i * 3 + 1]! / 256);
  const landmarkMs: Record<string, number> = {};
  for (const threads of [1, 2]) {
    const session = await createOnnxSession(ort, landmarks, { threads, spinning: 'never' });
    landmarkMs[`asShipped${threads}Thread`] = (await interleaved([{ name: 'ms', session }], grey, [1, 1, 64, 64], 1)).ms!;
    session.release();
  }
  const embedder = await loadMobileFaceNet(ort, { threads: 1 });
  const twoThreads = await loadMobileFaceNet(ort, { threads: 2 });
  try {
    return {
      mobileFaceNetFlipPairMsPerFace: await beforeAfter(ort, mobileFaceNet, pair, [2, size, size, 3], 1),
      mobileFaceNetOneImageMs: await beforeAfter(ort, mobileFaceNet, pixels, [1, size, size, 3], 1),
      mobileFaceNetEmbedderMsPerFace: { threads1: await time(() => embedder.embed([face])), threads2: await time(() => twoThreads.embed([face])) },
      mobileFaceNetMaxDiffNowVsBefore: maxNormalisedDiff(nowOut!, beforeOut!, 192),
      blazeFaceMsPerView: await beforeAfter(ort, blazeFace, viewValues, [1, 256, 256, 3], 1),
      blazeFaceMsPerViewOf3: await beforeAfter(ort, blazeFace, frameViews, [3, 256, 256, 3], 3),
      // int8 QDQ (onnxruntime's QLinearConv) against float32, as facetrain runs the networks: not shipped (README)
      int8: {
        mobileFaceNetFlipPairMsPerFace: await float32VsInt8(ort, mobileFaceNet, pair, [2, size, size, 3], 1),
        mobileFaceNetOneImageMs: await float32VsInt8(ort, mobileFaceNet, pixels, [1, size, size, 3], 1),
        // a full batch of the embedder (16 faces and their mirror images), as folders and training run it
        mobileFaceNetBatch32MsPerImage: await float32VsInt8(ort, mobileFaceNet, batch32, [32, size, size, 3], 32),
        mobileFaceNetReluBoundFlipPairMsPerFace: await float32VsInt8(ort, reluForPrelu(mobileFaceNet), pair, [2, size, size, 3], 1),
        blazeFaceMsPerViewOf3: await float32VsInt8(ort, blazeFaceOnnx(blazeFaceModel, { anySize: true, channelBlock: onnxChannelBlock() }), frameViews, [3, 256, 256, 3], 3),
      },
      landmarksMsPerFace: landmarkMs,
      rounds: NETWORK_ROUNDS,
    };
  } finally {
    embedder.dispose();
    twoThreads.dispose();
  }
}

/** Per-face timings of the face pipeline on a one-face crop (bbt) and on a 1366x768 scene with 4 faces; then each network on its own. */
export async function benchFaces(): Promise<Record<string, unknown>> {
  const [detector, embedder] = await Promise.all([loadFaceDetector(), loadFaceRes()]);
  const ort = (await loadOnnxRuntime())!;
  const aligner = await loadFaceAligner(embeddingInputSpec(MOBILEFACENET_BASE), onnxRuntime(ort));
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
      networks: await benchNetworks(crop, await aligner.align(crop, face!)),
    };
  } finally {
    detector.dispose();
    embedder.dispose();
    aligner.dispose();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  console.log(JSON.stringify(await benchFaces(), null, 2));
}
