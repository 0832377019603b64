import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
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

/** Seconds from the spawn of a `facetrain train` process to its events (its `--json` lines) and its exit. */
interface CommandTiming {
  /** `facetrain train --help`: process start and the train command's imports, no work. */
  startSeconds: number;
  /** The first photo embedded: start, imports, the networks (from the cache or converted) and one photo. */
  firstPhotoSeconds: number;
  /** Every training photo embedded. */
  photosSeconds: number;
  /** The head trained (its last epoch). */
  headSeconds: number;
  /** The validation report. */
  validationSeconds: number;
  /** The model directory written. */
  savedSeconds: number;
  /** The process gone. */
  seconds: number;
}

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Runs the CLI with `args` (FACETRAIN_CACHE set to `cacheDir`), calling `onLine` with each stdout line and the seconds since the spawn; resolves with the seconds to its exit. */
async function timeProcess(args: string[], cacheDir: string, onLine: (line: string, seconds: number) => void = () => {}): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FACETRAIN_CACHE: cacheDir } });
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => onLine(line, (performance.now() - started) / 1000));
  const code = await new Promise<number | null>((resolve, reject) => child.once('error', reject).once('exit', resolve));
  if (code !== 0) throw new Error(`facetrain ${args[0]} exited with code ${code}`);
  return (performance.now() - started) / 1000;
}

/**
 * `facetrain train` as a user runs it: a new process into a new model directory, from its start to
 * its exit, with the time of each stage from its JSON events. `cacheDir` is the network cache: an
 * empty folder converts the networks (a first run), a filled one reads them (every later run).
 */
async function timeCli(dataDir: string, outDir: string, cacheDir: string): Promise<CommandTiming> {
  const startSeconds = await timeProcess(['train', '--help'], cacheDir);
  const at: Record<string, number> = {};
  const seconds = await timeProcess(['train', dataDir, '--out', outDir, '--json'], cacheDir, (line, time) => {
    const event = JSON.parse(line) as TrainEvent;
    if (event.type === 'progress' && event.stage === 'features') {
      at.firstPhoto ??= time;
      if (event.done === event.total) at.photos = time;
    }
    if (event.type === 'epoch' && event.phase === 'head' && event.epoch === event.epochs) at.head = time;
    if (event.type === 'evaluation') at.validation = time;
    if (event.type === 'saved') at.saved = time;
  });
  const stage = (name: string): number => {
    if (at[name] === undefined) throw new Error(`facetrain train sent no ${name} event`);
    return round(at[name]);
  };
  return { startSeconds: round(startSeconds), firstPhotoSeconds: stage('firstPhoto'), photosSeconds: stage('photos'), headSeconds: stage('head'), validationSeconds: stage('validation'), savedSeconds: stage('saved'), seconds: round(seconds) };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Each field's median over the runs. */
function medianTiming(timings: CommandTiming[]): CommandTiming {
  return Object.fromEntries(Object.keys(timings[0]!).map((key) => [key, median(timings.map((t) => t[key as keyof CommandTiming]))])) as unknown as CommandTiming;
}

/**
 * Training the default model (face embeddings + head) on 520 LFW-like photos against face-api's
 * enrolment of the same photos (detect + landmarks + descriptor for each, in the same process;
 * every photo by default, `BENCH_FACEAPI_EVERY=n` times every n-th and scales to 520 for a quick
 * look), and five-celebrities: `train()` in this process and the whole `facetrain train` command
 * (a child process, its stages from its JSON events), with an empty network cache and a filled one.
 */
export async function benchTraining(runs: number, faceApiEvery = Number(process.env.BENCH_FACEAPI_EVERY ?? 1)): Promise<Record<string, unknown>> {
  const loadBefore = loadavg().map(round);
  const root = await tempDir('bench-training');
  try {
    const photos = await lfwLikeDataset(path.join(root, 'data'));
    const timings: TrainTiming[] = [];
    // a new model directory each run: retraining into one with `force` would take every embedding from its gallery.json
    for (let i = 0; i < Math.max(1, Math.min(runs, 3)); i++) timings.push(await timeTraining(path.join(root, 'data'), path.join(root, `model-${i}`)));
    const celebrities: TrainTiming[] = [];
    const warmCli: CommandTiming[] = [];
    const coldCli: CommandTiming[] = [];
    for (let i = 0; i < Math.max(1, Math.min(runs, 3)); i++) {
      celebrities.push(await timeTraining(FIVE_CELEBRITIES, path.join(root, `celebrities-${i}`)));
      // cold: a new empty network cache (the first run after installing); warm: the same cache, filled by that run
      const cacheDir = path.join(root, `network-cache-${i}`);
      coldCli.push(await timeCli(FIVE_CELEBRITIES, path.join(root, `celebrities-cold-${i}`), cacheDir));
      warmCli.push(await timeCli(FIVE_CELEBRITIES, path.join(root, `celebrities-warm-${i}`), cacheDir));
    }
    const faceApi = await loadFaceApi();
    const sample = photos.filter((_, i) => i % faceApiEvery === 0);
    const bytes = await Promise.all(sample.map(async (file) => new Uint8Array(await readFile(file))));
    await faceApi(bytes[0]!);
    const faceApiStarted = performance.now();
    for (const photo of bytes) await faceApi(photo);
    const faceApiSeconds = ((performance.now() - faceApiStarted) / 1000) * (photos.length / sample.length);
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
      fiveCelebritiesCommandSeconds: medianTiming(warmCli).seconds,
      fiveCelebritiesCommandStages: medianTiming(warmCli),
      fiveCelebritiesCommandColdCacheStages: medianTiming(coldCli),
      fiveCelebritiesFirstPhotoSeconds: median(celebrities.map((t) => t.firstPhotoSeconds)),
      fiveCelebritiesEmbedSeconds: median(celebrities.map((t) => t.embedSeconds)),
      fiveCelebritiesCoresBusy: median(celebrities.map((t) => t.coresBusy)),
      fiveCelebritiesValAccuracy: celebrities[0]!.valAccuracy,
      runs: timings.length,
      loadAverage: { before: loadBefore, after: loadavg().map(round) },
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  console.log(JSON.stringify(await benchTraining(Number(process.env.BENCH_RUNS ?? 3)), null, 2));
}
