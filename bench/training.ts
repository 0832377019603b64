import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { train } from '../src/api/train.js';
import type { TrainEvent } from '../src/events.js';
import { FIVE_CELEBRITIES, sharedPath, tempDir } from '../test/support/shared.js';
import { loadFaceApi } from './photos.js';
import { round } from './timing.js';

const PEOPLE = 52;
const PHOTOS_PER_PERSON = 10;

/**
 * 52 people x 10 LFW-like photos (250x250 JPEG): LFW has no 52 people with 10 photos each in
 * ../shared, so the 52 people with the most photos are taken and each photo is varied (mirrored,
 * shifted a few pixels) until the person has 10 different files.
 */
async function lfwLikeDataset(root: string): Promise<string[]> {
  const images = sharedPath('datasets', 'lfw-pairs', 'images');
  const people = await Promise.all((await readdir(images)).sort().map(async (person) => ({ person, files: (await readdir(path.join(images, person))).sort() })));
  const chosen = people.sort((a, b) => b.files.length - a.files.length).slice(0, PEOPLE);
  const written: string[] = [];
  for (const { person, files } of chosen) {
    await mkdir(path.join(root, person), { recursive: true });
    for (let i = 0; i < PHOTOS_PER_PERSON; i++) {
      const variant = Math.floor(i / files.length);
      const shift = 2 * Math.floor(variant / 2);
      let image = sharp(path.join(images, person, files[i % files.length]!)).extend({ top: shift, left: shift, extendWith: 'mirror' }).extract({ left: 0, top: 0, width: 250, height: 250 });
      if (variant % 2 === 1) image = image.flop();
      const file = path.join(root, person, `${i}.jpg`);
      await writeFile(file, await image.jpeg({ quality: 90 }).toBuffer());
      written.push(file);
    }
  }
  return written;
}

interface TrainTiming {
  wallSeconds: number;
  /** From the call to the first photo embedded: the networks' loading (in this thread and the workers) and one photo. */
  firstPhotoSeconds: number;
  embedSeconds: number;
  /** CPU seconds of the whole process (every thread) per wall second: 2 is both cores busy. */
  coresBusy: number;
  photos: number;
  valAccuracy: number | undefined;
}

async function timeTraining(dataDir: string, outDir: string): Promise<TrainTiming> {
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  let firstFeature = 0;
  let featuresDone = 0;
  let total = 0;
  const result = await train({ dataDir, outDir }, (e: TrainEvent) => {
    if (e.type === 'progress' && e.stage === 'features') {
      if (!firstFeature) firstFeature = performance.now();
      if (e.done === e.total) featuresDone = performance.now();
      total = e.total;
    }
  });
  const cpu = process.cpuUsage(cpuBefore);
  const wallSeconds = (performance.now() - started) / 1000;
  return { wallSeconds: round(wallSeconds), firstPhotoSeconds: round((firstFeature - started) / 1000), embedSeconds: round((featuresDone - started) / 1000), coresBusy: round((cpu.user + cpu.system) / 1e6 / wallSeconds), photos: total, valAccuracy: result.manifest.metrics.valAccuracy };
}

/** `facetrain train` as a user runs it: a new process, from its start to its exit (loading modules and networks included). */
async function timeCli(dataDir: string, outDir: string): Promise<number> {
  const started = performance.now();
  const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const child = spawn(process.execPath, [cli, 'train', dataDir, '--out', outDir, '--json'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((resolve, reject) => child.once('error', reject).once('exit', resolve));
  if (code !== 0) throw new Error(`facetrain train exited with code ${code}`);
  return round((performance.now() - started) / 1000);
}

/**
 * Training the default model (face embeddings + head) on 520 LFW-like photos against face-api's
 * enrolment of the same photos (detect + landmarks + descriptor for each, in the same process;
 * every photo by default, `BENCH_FACEAPI_EVERY=n` times every n-th and scales to 520 for a quick
 * look), and five-celebrities: `train()` in this process and the whole `facetrain train` command.
 */
export async function benchTraining(runs: number, faceApiEvery = Number(process.env.BENCH_FACEAPI_EVERY ?? 1)): Promise<Record<string, unknown>> {
  const root = await tempDir('bench-training');
  try {
    const photos = await lfwLikeDataset(path.join(root, 'data'));
    const timings: TrainTiming[] = [];
    // a new model directory each run: retraining into one with `force` would take every embedding from its gallery.json
    for (let i = 0; i < Math.max(1, Math.min(runs, 3)); i++) timings.push(await timeTraining(path.join(root, 'data'), path.join(root, `model-${i}`)));
    const celebrities: TrainTiming[] = [];
    const cli: number[] = [];
    for (let i = 0; i < Math.max(1, Math.min(runs, 3)); i++) {
      celebrities.push(await timeTraining(FIVE_CELEBRITIES, path.join(root, `celebrities-${i}`)));
      cli.push(await timeCli(FIVE_CELEBRITIES, path.join(root, `celebrities-cli-${i}`)));
    }
    const faceApi = await loadFaceApi();
    const sample = photos.filter((_, i) => i % faceApiEvery === 0);
    const bytes = await Promise.all(sample.map(async (file) => new Uint8Array(await readFile(file))));
    await faceApi(bytes[0]!);
    const faceApiStarted = performance.now();
    for (const photo of bytes) await faceApi(photo);
    const faceApiSeconds = ((performance.now() - faceApiStarted) / 1000) * (photos.length / sample.length);
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const wall = median(timings.map((t) => t.wallSeconds));
    return {
      lfwLike520: {
        photos: photos.length,
        trainWallSeconds: wall,
        firstPhotoSeconds: median(timings.map((t) => t.firstPhotoSeconds)),
        embedSeconds: median(timings.map((t) => t.embedSeconds)),
        coresBusy: median(timings.map((t) => t.coresBusy)),
        valAccuracy: timings[0]!.valAccuracy,
        faceApiEnrolSeconds: round(faceApiSeconds),
        faceApiTimedPhotos: sample.length,
        faceApiSecondsPerPhoto: round(faceApiSeconds / photos.length),
        ratio: round(wall / faceApiSeconds),
      },
      fiveCelebritiesTrainSeconds: median(celebrities.map((t) => t.wallSeconds)),
      fiveCelebritiesCommandSeconds: median(cli),
      fiveCelebritiesFirstPhotoSeconds: median(celebrities.map((t) => t.firstPhotoSeconds)),
      fiveCelebritiesEmbedSeconds: median(celebrities.map((t) => t.embedSeconds)),
      fiveCelebritiesCoresBusy: median(celebrities.map((t) => t.coresBusy)),
      fiveCelebritiesValAccuracy: celebrities[0]!.valAccuracy,
      runs: timings.length,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  console.log(JSON.stringify(await benchTraining(Number(process.env.BENCH_RUNS ?? 3)), null, 2));
}
