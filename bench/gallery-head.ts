import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { matchNeighbours } from '../src/gallery/match.js';
import { encodeVector, type GalleryEntry } from '../src/model-dir/gallery.js';
import { embeddingRow } from '../src/recognize/embedding-base.js';
import { facePipelineOn } from '../src/recognize/face-pipeline.js';
import { chooseRuntime } from '../src/runtime/choose.js';
import { initEngine, tf } from '../src/tfjs/backend.js';
import { trainEmbeddingHead } from '../src/train/embedding.js';
import { resolveTrainConfig } from '../src/base/index.js';
import { cosine } from '../src/util/vector.js';
import { createRandom, shuffled } from '../src/util/random.js';
import { embedPhotos, peopleIn, type Embeddings } from './protocols.js';
import { round } from './timing.js';

const BASE = 'mobilefacenet';

interface Sample {
  person: string;
  file: string;
}

/** A closed-set task: the gallery is `train` (everyone in it is known), `queries` are other photos of them. */
interface Task {
  name: string;
  train: Sample[];
  queries: Sample[];
}

/**
 * LFW with a growing gallery: the people with two or more photos enrol their first and query with
 * the rest; past those, people with one photo are enrolled too (never queried), so the gallery
 * grows to every LFW person while the questions stay the same kind.
 */
function lfwTasks(datasets: string, sizes: number[], seed: number): Task[] {
  const people = peopleIn(path.join(datasets, 'lfw-pairs', 'images'));
  const random = createRandom(seed);
  const queried = shuffled(people.filter((p) => p.files.length >= 2), random);
  const enrolledOnly = shuffled(people.filter((p) => p.files.length === 1), random);
  const order = [...queried, ...enrolledOnly];
  return sizes.filter((n) => n <= order.length).map((n) => {
    const inGallery = order.slice(0, n);
    return {
      name: `lfw, ${n} people`,
      train: inGallery.map((p) => ({ person: p.person, file: p.files[0]! })),
      queries: inGallery.flatMap((p) => p.files.slice(1).map((file) => ({ person: p.person, file }))),
    };
  });
}

/** The shared sets' usual splits (as in the README's accuracy table): many photos per person, few people. */
function smallTasks(datasets: string): Task[] {
  const split = (name: string, dir: string, trainPerPerson: number): Task => {
    const people = peopleIn(dir);
    return {
      name,
      train: people.flatMap((p) => p.files.slice(0, trainPerPerson).map((file) => ({ person: p.person, file }))),
      queries: people.flatMap((p) => p.files.slice(trainPerPerson).map((file) => ({ person: p.person, file }))),
    };
  };
  const celebrities = (s: 'train' | 'val') => peopleIn(path.join(datasets, 'five-celebrities', s)).flatMap((p) => p.files.map((file) => ({ person: p.person, file })));
  return [
    { name: 'five-celebrities (5 people, 14-22 photos each)', train: celebrities('train'), queries: celebrities('val') },
    split('bbt (8 people, 3 photos each)', path.join(datasets, 'bbt'), 3),
    split('orl (40 people, 5 photos each)', path.join(datasets, 'orl'), 5),
    split('yale (15 people, 6 photos each)', path.join(datasets, 'yale'), 6),
  ];
}

/**
 * MobileFaceNet embeddings (the default base) of every file, kept in BENCH_GALLERY_EMBEDDINGS when
 * set: the same file format as `npm run accuracy`'s ACCURACY_CACHE (embeddings per base), so one
 * file serves both.
 */
async function embedAll(files: string[]): Promise<Embeddings> {
  const cacheFile = process.env.BENCH_GALLERY_EMBEDDINGS;
  const cached: Record<string, Record<string, number[] | null>> = cacheFile && existsSync(cacheFile) ? JSON.parse(readFileSync(cacheFile, 'utf8')) : {};
  const out: Embeddings = new Map(Object.entries(cached[BASE] ?? {}).map(([f, v]) => [f, v && Float32Array.from(v)]));
  const missing = files.filter((f) => !out.has(f));
  if (missing.length > 0) {
    const pipeline = await facePipelineOn(await chooseRuntime(undefined), embeddingRow(BASE));
    const [measured] = await embedPhotos(missing, pipeline.detector, [pipeline], (done) => {
      if (done % 100 === 0) process.stderr.write(`gallery-head: embedded ${done}/${missing.length}\n`);
    });
    for (const [file, e] of measured!) out.set(file, e);
    pipeline.dispose();
    if (cacheFile) await writeFile(cacheFile, JSON.stringify({ ...cached, [BASE]: Object.fromEntries([...out].map(([f, v]) => [f, v && Array.from(v)])) }));
  }
  return out;
}

/** Top-1 accuracy and time of the two ways of naming a face on one task (photos without a face count as wrong). */
async function compare(task: Task, embeddings: Embeddings, seed: number): Promise<Record<string, unknown>> {
  const train = task.train.filter((s) => embeddings.get(s.file));
  const people = [...new Set(train.map((s) => s.person))].sort();
  const queries = task.queries.filter((s) => people.includes(s.person));
  const found = queries.filter((s) => embeddings.get(s.file));
  const vectors = found.map((s) => embeddings.get(s.file)!);

  // nearest template: every training photo is a template; the face gets the nearest one's person
  let t = performance.now();
  const nearestLabels = vectors.map((v) => {
    const neighbours = train.map((s) => ({ person: s.person, file: s.file, photoHash: s.file, similarity: cosine(v, embeddings.get(s.file)!) })).sort((a, b) => b.similarity - a.similarity);
    return matchNeighbours(neighbours, -1, 1).label;
  });
  const nearestMsPerQuery = (performance.now() - t) / Math.max(1, vectors.length);

  // the model's head: Dropout -> Dense(N, softmax), trained as `train` does (no augmented views here)
  const config = resolveTrainConfig({ dataDir: '.', outDir: '.', base: BASE, seed });
  const entries: GalleryEntry[] = train.map((s) => ({ hash: s.file, person: s.person, file: s.file, split: 'train', faces: 1, views: [encodeVector(embeddings.get(s.file)!)] }));
  t = performance.now();
  const { head } = await trainEmbeddingHead(entries, [], people, config, () => {});
  const headTrainSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  const headLabels = vectors.length === 0 ? [] : tf.tidy(() => {
    const flat = new Float32Array(vectors.length * vectors[0]!.length);
    vectors.forEach((v, i) => flat.set(v, i * v.length));
    return Array.from(tf.argMax(head.predict(tf.tensor2d(flat, [vectors.length, vectors[0]!.length])) as tf.Tensor2D, 1).dataSync(), (i) => people[i]!);
  });
  const headMsPerQuery = (performance.now() - t) / Math.max(1, vectors.length);
  head.dispose();

  const accuracy = (labels: string[]) => round((100 * labels.filter((l, i) => l === found[i]!.person).length) / queries.length) ;
  return {
    people: people.length,
    templates: train.length,
    queries: queries.length,
    nearestTemplateTop1Percent: accuracy(nearestLabels),
    headTop1Percent: accuracy(headLabels),
    headTrainSeconds: round(headTrainSeconds),
    headEpochs: config.epochs,
    nearestMsPerQuery: round(nearestMsPerQuery),
    headMsPerQuery: round(headMsPerQuery),
  };
}

/**
 * The softmax head against the nearest template as the number of people grows: closed-set top-1
 * on the shared sets' splits and on LFW galleries of 10 to 948 people (one photo each enrolled),
 * with the head's training time (it is retrained on every enrolment) and the time per query.
 * BENCH_GALLERY_HEAD_SIZES picks the LFW sizes; BENCH_GALLERY_EMBEDDINGS=file caches embeddings.
 */
export async function benchGalleryHead(): Promise<Record<string, unknown>> {
  const datasets = path.join(process.env.FACETRAIN_SHARED ?? path.resolve('..', 'shared'), 'datasets');
  const seed = 42;
  const sizes = (process.env.BENCH_GALLERY_HEAD_SIZES ?? '10,30,100,348,948').split(',').map(Number);
  const tasks = [...smallTasks(datasets), ...lfwTasks(datasets, sizes, seed)];
  const embeddings = await embedAll([...new Set(tasks.flatMap((t) => [...t.train, ...t.queries].map((s) => s.file)))]);
  await initEngine();
  const out: Record<string, unknown> = { base: BASE, note: 'closed set (every query is of an enrolled person); shared 2-core machine: times are noisy' };
  for (const task of tasks) {
    out[task.name] = await compare(task, embeddings, seed);
    process.stderr.write(`gallery-head: ${task.name}: ${JSON.stringify(out[task.name])}\n`);
  }
  return out;
}
