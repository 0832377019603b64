import { readdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { BASE_ROWS, TRAIN_DEFAULTS } from '../src/base/index.js';
import { alignmentTransform, DEFAULT_ALIGN_CONFIG } from '../src/faces/align.js';
import { alignForInput, loadFaceAligner } from '../src/faces/cropper.js';
import { finerCropSource } from '../src/faces/finer-crop.js';
import { loadMobileFaceNet } from '../src/base/mobilefacenet/mobilefacenet.js';
import { loadFaceDetector, searchSide, searchViews, type DetectedFace, type DetectorConfig, type FaceDetector } from '../src/faces/detect.js';
import { decodeImage, decodeImageScaled, decodeRegion, type RgbImage } from '../src/image/decode.js';
import { embeddingInputSpec, rowEmbedderOn } from '../src/recognize/face-pipeline.js';
import { chooseRuntime } from '../src/runtime/choose.js';
import { loadRecognizer, type StreamingRecognizer } from '../src/recognize/recognizer.js';
import { trackingDetector, type FrameSearch } from '../src/faces/track.js';
import { median } from '../src/evaluate/metrics.js';
import { setOnnxThreadsPerSession } from '../src/runtime/onnxruntime.js';
import { movingFaceFrames } from '../test/support/moving-face.js';
import { phonePhoto } from '../test/support/phone-photo.js';
import { sharedPath } from '../test/support/shared.js';
import { celebrityPhotos, trainTinyModel } from '../test/support/tiny-model.js';
import { faceApiFaces, loadFaceApiModels } from './face-api.js';
import { interleavedMs, round, timeMs } from './timing.js';

/** Runs of each stage of a frame at least (`BENCH_RUNS` when more). */
const FRAME_STAGE_RUNS = 15;

/** Rounds of frame-view against square-view detection: many, as a frame view's new session is slow for its first runs. */
const FRAME_VIEW_ROUNDS = 40;

/** Median CPU ms (every thread of the process: user + system) of `runs` calls after one warm-up call. */
async function cpuMs(runs: number, run: () => unknown): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.cpuUsage();
    await run();
    const { user, system } = process.cpuUsage(start);
    times.push((user + system) / 1000);
  }
  return median(times);
}

/**
 * A camera stream through `Recognizer.stream()`: a face walking past 640x480, `runs` times over the
 * frames, as JPEG (what the page sends) and as raw RGB pixels (what a camera gives: no decode); the
 * median ms of the frames followed from the faces before (steady state) and of those searched in
 * full (cold: the first frame, every tenth, a face that is not the face before).
 */
async function streamFrames(runs: number, recognizer: StreamingRecognizer, raw: RgbImage[]): Promise<Record<string, unknown>> {
  const jpeg = await Promise.all(raw.map(async ({ data, width, height }) => new Uint8Array(await sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer())));
  const result: Record<string, unknown> = { frames: raw.length };
  for (const [kind, frames] of [['jpeg', jpeg], ['raw', raw]] as const) {
    const times: Record<FrameSearch, number[]> = { full: [], around: [], followed: [] };
    const cpu: Record<FrameSearch, number[]> = { full: [], around: [], followed: [] };
    for (let run = 0; run <= runs; run++) {
      const stream = recognizer.stream();
      for (const frame of frames) {
        const [wall, start] = [performance.now(), process.cpuUsage()];
        await stream.predict(frame);
        const { user, system } = process.cpuUsage(start);
        // run 0 warms up
        if (run === 0) continue;
        times[stream.lastSearch!].push(performance.now() - wall);
        cpu[stream.lastSearch!].push((user + system) / 1000);
      }
    }
    result[kind] = {
      steadyFrameMs: round(median(times.followed)),
      steadyFrameCpuMs: round(median(cpu.followed)),
      coldFrameMs: round(median(times.full)),
      coldFrameCpuMs: round(median(cpu.full)),
      framesFollowed: times.followed.length,
      framesSearchedInFull: times.full.length,
    };
  }
  return result;
}

/**
 * Where a followed stream frame's time goes (the second frame of the walk, following the first's
 * face): decode of its JPEG, following the face (the landmark network, up to three steps), landmarks
 * + alignment, the embedding (the face and its mirror image in one run); the stream's total minus
 * these is the head and the glue.
 */
async function followedFrameStages(benchRuns: number, raw: RgbImage[], detector: FaceDetector): Promise<Record<string, unknown>> {
  const { aligner, embedder } = await defaultBaseStages();
  const runs = Math.max(benchRuns, FRAME_STAGE_RUNS);
  try {
    const [before, frame] = raw as [RgbImage, RgbImage];
    const bytes = new Uint8Array(await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
    // following is timed on fresh trackers that searched the frame before in full (a tracker following the same frame again would settle at once)
    const followTimes: number[] = [];
    let faces: DetectedFace[] = [];
    for (let run = 0; run <= runs; run++) {
      const tracker = trackingDetector(detector, {}, aligner.landmarker);
      await tracker.detect(before);
      const start = performance.now();
      faces = await tracker.detect(frame);
      if (run > 0) followTimes.push(performance.now() - start);
      if (tracker.lastSearch !== 'followed') throw new Error(`the bench frame was searched ${tracker.lastSearch}, not followed`);
    }
    const crop = await aligner.align(frame, faces[0]!);
    const stages = {
      decodeJpegMs: round(await timeMs(runs, () => decodeImage(bytes, 'frame'))),
      followMs: round(median(followTimes)),
      landmarksAndAlignMs: round(await timeMs(runs, () => aligner.align(frame, faces[0]!))),
      embedMs: round(await timeMs(runs, () => embedder.embed([crop]))),
    };
    return { base: TRAIN_DEFAULTS.base, ...stages };
  } finally {
    aligner.dispose();
    embedder.dispose();
  }
}

/**
 * `predict` of a recognizer whose sessions all get one onnxruntime thread (as in the server's
 * workers), beside the default (BlazeFace and MobileFaceNet on every core within their runs): what
 * the second thread takes off a lone frame.
 */
async function oneThreadFrameMs(runs: number, modelDir: string, frame: Uint8Array): Promise<number> {
  setOnnxThreadsPerSession(1);
  const recognizer = await loadRecognizer(modelDir).finally(() => setOnnxThreadsPerSession(availableParallelism()));
  try {
    return await perPhoto(runs, [frame], (bytes) => recognizer.predict(bytes));
  } finally {
    recognizer.dispose();
  }
}

/**
 * face-api 1.7.15 on tfjs-wasm (its models ship in the package), in this process, on the same
 * backend: detectAllFaces (SSD MobileNetV1) + 68 landmarks + descriptors for every face, after a
 * full sharp decode, as its README's node example does.
 */
export async function loadFaceApi(): Promise<(bytes: Uint8Array) => Promise<number>> {
  const faceapi = await loadFaceApiModels();
  return async (bytes) => {
    const { data, info } = await sharp(bytes).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return (await faceApiFaces(faceapi, { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height })).length;
  };
}

/** How many views the detector runs on `image` on onnxruntime (the whole image, a frame view, tiles). */
function detectorViews(image: RgbImage, detector: FaceDetector, config: Partial<DetectorConfig> = {}): number {
  const full = { ...detector.config, ...config };
  const side = searchSide(image.width, image.height, full);
  const shrink = side / Math.max(image.width, image.height);
  return searchViews(Math.round(image.width * shrink), Math.round(image.height * shrink), full, full.frameViews).length;
}

/** The default base's aligner and embedder on onnxruntime, as predict loads them. */
async function defaultBaseStages() {
  const runtime = await chooseRuntime('onnx');
  const row = BASE_ROWS[TRAIN_DEFAULTS.base];
  if (row.kind !== 'embedding') throw new Error(`the default base ${TRAIN_DEFAULTS.base} is not an embedding base`);
  const input = embeddingInputSpec(row);
  const [aligner, embedder] = await Promise.all([loadFaceAligner(input, runtime), rowEmbedderOn(runtime, row)]);
  return { input, aligner, embedder };
}

/**
 * Where a frame's time goes with the default base, stage by stage on onnxruntime: decode, detect
 * (square views), landmarks + alignment (the base's aligner), embed.
 */
async function frameStages(benchRuns: number, bytes: Uint8Array, square: FaceDetector): Promise<Record<string, unknown>> {
  const { aligner, embedder } = await defaultBaseStages();
  // stages of a few ms: a median of 3 moved by 2.5x between idle reruns (decode 4 then 10.5 ms)
  const runs = Math.max(benchRuns, FRAME_STAGE_RUNS);
  try {
    const image = await decodeImage(bytes, 'frame');
    const [face] = await square.detect(image);
    const crop = await aligner.align(image, face!);
    const stages = {
      decodeMs: round(await timeMs(runs, () => decodeImage(bytes, 'frame'))),
      decodeCpuMs: round(await cpuMs(runs, () => decodeImage(bytes, 'frame'))),
      detectMs: round(await timeMs(runs, () => square.detect(image))),
      landmarksAndAlignMs: round(await timeMs(runs, () => aligner.align(image, face!))),
      embedMs: round(await timeMs(runs, () => embedder.embed([crop]))),
    };
    return {
      base: TRAIN_DEFAULTS.base,
      ...stages,
      // predict's total minus these is the head, the decision and the glue between stages
      stagesSumMs: round(stages.decodeMs + stages.detectMs + stages.landmarksAndAlignMs + stages.embedMs),
    };
  } finally {
    aligner.dispose();
    embedder.dispose();
  }
}

/**
 * Where a 12 MP photo's time goes with the default base, stage by stage as `predict` runs them:
 * decode shrunk on load to the search size, detect, the finer decode for faces whose crop would be
 * enlarged (none on this photo), landmarks + alignment, embedding of every face; and the finer crop
 * of a face that wants the stored pixels, at the stored size and resampled to the size rounded from
 * the scale (3023 of 3024 px) as before this pass.
 */
async function phoneStages(runs: number, bytes: Uint8Array, detector: FaceDetector): Promise<Record<string, unknown>> {
  const { input, aligner, embedder } = await defaultBaseStages();
  try {
    const maxSide = ({ width, height }: { width: number; height: number }) => detector.searchSide(width, height);
    const { image, scale } = await decodeImageScaled(bytes, 'phone', { maxSide });
    const faces = await detector.detect(image);
    // as predict decides it (recognize/recognizer.ts locateFaces)
    const enlargement = Math.max(1, ...faces.map((face) => {
      const t = alignmentTransform(face, input.size, { ...DEFAULT_ALIGN_CONFIG, ...input.align });
      return Math.hypot(t.a, t.b);
    }));
    const finer = enlargement > 1.01 && scale > 1.01;
    const source = finer ? await finerCropSource(bytes, image, scale, faces, enlargement) : { image, faces };
    const crops = await Promise.all(source.faces.map((face) => aligner.align(source.image, face)));
    const resampled = { width: Math.round(image.width * scale), height: Math.round(image.height * scale) };
    // the finer region's place in the photo, from where its first face landed (bench only: the size before this pass)
    const regionOf = (cut: { image: RgbImage; faces: DetectedFace[] }, searchedFace: DetectedFace, by: number) => {
      const left = Math.round(searchedFace.box.x * by - cut.faces[0]!.box.x);
      const top = Math.round(searchedFace.box.y * by - cut.faces[0]!.box.y);
      return { left, top, width: Math.min(cut.image.width, resampled.width - left), height: Math.min(cut.image.height, resampled.height - top) };
    };
    const storedSizeCrop = async () => {
      const cut = await finerCropSource(bytes, image, scale, faces, scale);
      return {
        storedSizeCropMs: round(await timeMs(runs, () => finerCropSource(bytes, image, scale, faces, scale))),
        storedSizeCropResampledMs: round(await timeMs(runs, () => decodeRegion(bytes, 'phone', resampled, regionOf(cut, faces[0]!, scale)))),
      };
    };
    const stages = {
      decodeMs: round(await timeMs(runs, () => decodeImageScaled(bytes, 'phone', { maxSide }))),
      detectMs: round(await timeMs(runs, () => detector.detect(image))),
      finerCropMs: finer ? round(await timeMs(runs, () => finerCropSource(bytes, image, scale, faces, enlargement))) : 0,
      landmarksAndAlignMs: round(await timeMs(runs, () => Promise.all(source.faces.map((face) => aligner.align(source.image, face))))),
      embedMs: round(await timeMs(runs, () => embedder.embed(crops))),
    };
    return {
      base: TRAIN_DEFAULTS.base,
      faces: faces.length,
      finerCropAt: finer ? `${source.image.width}x${source.image.height} region, enlargement ${round(Math.min(enlargement, scale))}` : 'none',
      ...stages,
      stagesSumMs: round(Object.values(stages).reduce((a, b) => a + b, 0)),
      // a face that wants the stored pixels (a smaller face than this photo's): the finer crop at the stored size, and as it was resampled before
      ...(await storedSizeCrop()),
    };
  } finally {
    aligner.dispose();
    embedder.dispose();
  }
}

/** MobileFaceNet on one onnxruntime thread, as the server's and training's workers run it (the default is every core, see MobileFaceNetOptions). */
async function oneThreadMs(runs: number, crop: RgbImage): Promise<number> {
  const embedder = await loadMobileFaceNet((await chooseRuntime('onnx')).ort!, { threads: 1 });
  try {
    return round(await timeMs(runs, () => embedder.embed([crop])));
  } finally {
    embedder.dispose();
  }
}

/** Per-face ms of each embedding base on onnxruntime: aligned crops of the frame's face, one at a time and 8 at once. */
async function embedPerFace(runs: number, frame: RgbImage, detector: FaceDetector): Promise<Record<string, unknown>> {
  const runtime = await chooseRuntime('onnx');
  const [face] = await detector.detect(frame);
  const result: Record<string, unknown> = {};
  for (const name of ['faceres', 'mobilefacenet'] as const) {
    const row = BASE_ROWS[name];
    if (row.kind !== 'embedding') continue;
    const embedder = await rowEmbedderOn(runtime, row);
    try {
      // the alignment that needs no network (BlazeFace's points for a template base): the landmark network is timed in the frame stages
      const align = alignForInput(embeddingInputSpec(row));
      const crop = await align(frame, face!);
      result[name] = {
        inputSize: embedder.inputSize,
        alignMs: round(await timeMs(runs, () => align(frame, face!))),
        embedOneMs: round(await timeMs(runs, () => embedder.embed([crop]))),
        ...(name === 'mobilefacenet' ? { embedOneOnOneThreadMs: await oneThreadMs(runs, crop) } : {}),
        embedPerFaceOf8Ms: round((await timeMs(runs, () => embedder.embed(Array(8).fill(crop)))) / 8),
      };
    } finally {
      embedder.dispose();
    }
  }
  return result;
}

/** Median ms per photo of running `recognize` over every photo, `runs` times. */
async function perPhoto(runs: number, photos: Uint8Array[], recognize: (bytes: Uint8Array) => Promise<unknown>): Promise<number> {
  return round((await timeMs(runs, async () => {
    for (const photo of photos) await recognize(photo);
  })) / photos.length);
}

async function lfwPhotos(count: number): Promise<Uint8Array[]> {
  const root = sharedPath('datasets', 'lfw-pairs', 'images');
  const people = (await readdir(root)).sort().slice(0, count);
  return Promise.all(people.map(async (person) => new Uint8Array(await readFile(path.join(root, person, (await readdir(path.join(root, person))).sort()[0]!)))));
}

/**
 * Photos from bytes to named faces, facetrain's default model (BlazeFace + 68 landmarks + MobileFaceNet + head) against
 * face-api in the same process on the same photos: a 12 MP phone JPEG (a five-celebrities photo
 * pasted on a 3024x4032 canvas), LFW 250x250 photos, a 640x480 camera frame.
 */
export async function benchPhotos(runs: number): Promise<Record<string, unknown>> {
  const model = await trainTinyModel(['ben_afflek', 'madonna', 'mindy_kaling'], { base: TRAIN_DEFAULTS.base });
  const recognizer = await loadRecognizer(model.modelDir);
  const [tfjsDetector, onnxDetector, frameDetector] = await Promise.all([loadFaceDetector({}, 'tfjs'), loadFaceDetector({}, 'onnx'), loadFaceDetector({ frameViews: true }, 'onnx')]);
  try {
    const faceApi = await loadFaceApi();
    const source = (await celebrityPhotos('madonna', 1, 'val'))[0]!;
    const phone = new Uint8Array(await phonePhoto(source));
    const frame = new Uint8Array(await phonePhoto(source, { width: 640, height: 480, photoSide: 360 }));
    const walk = await movingFaceFrames(source, { photoSide: 360 });
    const lfw = await lfwPhotos(Number(process.env.BENCH_LFW_PHOTOS ?? 10));
    const faceApiRuns = Math.min(runs, 3);
    const predict = (bytes: Uint8Array) => recognizer.predict(bytes);
    const searchedSide = ({ width, height }: { width: number; height: number }) => onnxDetector.searchSide(width, height);
    const searched = (await decodeImageScaled(phone, 'phone', { maxSide: searchedSide })).image;
    const frameImage = await decodeImage(frame, 'frame');
    const justBelow = await decodeImage(new Uint8Array(await sharp(searched.data, { raw: { width: searched.width, height: searched.height, channels: 3 } }).resize(searched.width - 1, searched.height - 1, { fit: 'fill' }).png().toBuffer()));
    const result = {
      phone12mp: {
        bytes: phone.length,
        facetrainMs: await perPhoto(runs, [phone], predict),
        faceApiMs: await perPhoto(faceApiRuns, [phone], faceApi),
        facesFound: { facetrain: (await predict(phone)).length, faceApi: await faceApi(phone) },
        fullDecodeMs: round(await timeMs(runs, () => decodeImage(phone))),
        shrinkOnLoadDecodeMs: round(await timeMs(runs, () => decodeImageScaled(phone, 'phone', { maxSide: searchedSide }))),
        searchedAt: `${searched.width}x${searched.height}`,
        detectorViews: detectorViews(searched, onnxDetector),
        detectorViewsAt1440: detectorViews(await decodeImage(new Uint8Array(await sharp(phone).resize(1440, 1440, { fit: 'inside' }).png().toBuffer())), onnxDetector, { minFaceFraction: 0 }),
        detectOnnxMs: round(await timeMs(runs, () => onnxDetector.detect(searched))),
        // the same search a pixel smaller on each side: below COARSE_TO_FINE_MIN_SIDE, the half-tile pyramid (15 views), for a ratio in this process
        halfTilePyramid: { detectorViews: detectorViews(justBelow, onnxDetector), detectOnnxMs: round(await timeMs(runs, () => onnxDetector.detect(justBelow))) },
        detectTfjsMs: round(await timeMs(faceApiRuns, () => tfjsDetector.detect(searched))),
      },
      lfw250: {
        photos: lfw.length,
        facetrainMsPerPhoto: await perPhoto(runs, lfw, predict),
        faceApiMsPerPhoto: await perPhoto(faceApiRuns, lfw, faceApi),
      },
      frame640x480: {
        facetrainMs: await perPhoto(runs, [frame], predict),
        facetrainCpuMs: round(await cpuMs(Math.max(runs, FRAME_STAGE_RUNS), () => predict(frame))),
        // the frame's pixels as a camera gives them (no decode)
        rawPixelsMs: round(await timeMs(Math.max(runs, FRAME_STAGE_RUNS), () => recognizer.predict(frameImage))),
        oneThreadMs: await oneThreadFrameMs(Math.max(runs, FRAME_STAGE_RUNS), model.modelDir, frame),
        stream: await streamFrames(runs, recognizer, walk),
        faceApiMs: await perPhoto(faceApiRuns, [frame], faceApi),
        detectorViews: detectorViews(frameImage, onnxDetector),
        detectMs: round(await timeMs(runs, () => onnxDetector.detect(frameImage))),
        frameViews: {
          detectorViews: detectorViews(frameImage, frameDetector),
          // interleaved with the square views for the ratio (taken one after the other, on a host whose speed drifts, it read 1.05-1.15 where turns gave 0.84-0.89)
          ...(await interleavedMs(FRAME_VIEW_ROUNDS, { detectMs: () => frameDetector.detect(frameImage), squareViewsDetectMs: () => onnxDetector.detect(frameImage) })),
        },
      },
      phoneStages: await phoneStages(runs, phone, onnxDetector),
      frameStages: await frameStages(runs, frame, onnxDetector),
      followedFrameStages: await followedFrameStages(runs, walk, onnxDetector),
      embedPerFace: await embedPerFace(runs, frameImage, onnxDetector),
      runs,
      faceApiRuns,
    };
    const ratio = (ours: number, theirs: number) => round(ours / theirs);
    return {
      ...result,
      ratios: {
        phone12mp: ratio(result.phone12mp.facetrainMs, result.phone12mp.faceApiMs),
        lfw250: ratio(result.lfw250.facetrainMsPerPhoto, result.lfw250.faceApiMsPerPhoto),
        frame640x480: ratio(result.frame640x480.facetrainMs, result.frame640x480.faceApiMs),
        detectOnnxOverTfjs: ratio(result.phone12mp.detectOnnxMs, result.phone12mp.detectTfjsMs),
        coarseToFineOverHalfTile: ratio(result.phone12mp.detectOnnxMs, result.phone12mp.halfTilePyramid.detectOnnxMs),
        frameViewsOverSquareViews: ratio(result.frame640x480.frameViews.detectMs, result.frame640x480.frameViews.squareViewsDetectMs),
      },
    };
  } finally {
    recognizer.dispose();
    tfjsDetector.dispose();
    onnxDetector.dispose();
    frameDetector.dispose();
    await rm(model.root, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  console.log(JSON.stringify(await benchPhotos(Number(process.env.BENCH_RUNS ?? 5)), null, 2));
}
