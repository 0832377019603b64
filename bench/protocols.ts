import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { areaUnderCurve, rocCurve } from '../src/evaluate/metrics.js';
import { centroidsOf, leaveOnePersonOutScores, scoreFace, strangerThreshold, UNKNOWN_RULES, type PersonGallery } from '../src/evaluate/unknown-rule.js';
import { bestAccuracyThreshold, foldedAccuracy, pairAuroc, trueAcceptAt, type ScoredPair } from '../src/evaluate/verification.js';
import type { FaceAligner } from '../src/faces/cropper.js';
import type { DetectedFace, FaceDetector } from '../src/faces/detect.js';
import type { FaceEmbedder } from '../src/faces/embedder.js';
import { readImageFile, type RgbImage } from '../src/image/decode.js';
import { cosine } from '../src/recognize/classifier.js';
import { mapInOrder } from '../src/util/pipeline.js';

/** One embedding per photo file; null where no face was found. */
export type Embeddings = Map<string, Float32Array | null>;

/**
 * The shared sets as verification pairs and open-set protocols, one definition for
 * `npm run accuracy` and the tests. Names sort numerically so s2 comes before s10.
 */

const byName = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });
const list = (dir: string): string[] => readdirSync(dir).filter((f) => f !== 'README' && !f.startsWith('.')).sort(byName);

/**
 * Which face a photo of the shared sets is about: the largest, except in LFW, whose photos are
 * cropped around the named person, who is not always the largest face (in 7 of the 1,486 pair
 * photos a bigger face stands beside them): there the face nearest the photo's centre.
 */
export function subjectRule(file: string): 'largest' | 'nearest-centre' {
  return file.includes(`${path.sep}lfw-pairs${path.sep}`) ? 'nearest-centre' : 'largest';
}

/** The face `subjectRule` picks among `faces` (largest first). */
export function subjectFace<Face extends Pick<DetectedFace, 'box'>>(file: string, image: Pick<RgbImage, 'width' | 'height'>, faces: Face[]): Face | undefined {
  if (subjectRule(file) === 'largest') return faces[0];
  const offCentre = ({ box }: Face) => Math.hypot(box.x + box.width / 2 - image.width / 2, box.y + box.height / 2 - image.height / 2);
  return faces.reduce<Face | undefined>((best, f) => (!best || offCentre(f) < offCentre(best) ? f : best), undefined);
}

/** One way of embedding a detected face: an aligner, an embedder, and optionally a change to the aligned crop (measured variants). */
export interface FaceEmbedding {
  aligner: FaceAligner;
  embedder: FaceEmbedder;
  adjust?: (crop: RgbImage) => RgbImage;
}

/**
 * Every photo decoded and detected once, its subject face embedded each of `ways`: batches of 16
 * run in onnxruntime's threads while the next photos are decoded and detected on this one.
 */
export async function embedPhotos(files: readonly string[], detector: FaceDetector, ways: FaceEmbedding[], progress?: (done: number) => void): Promise<Embeddings[]> {
  const out: Embeddings[] = ways.map(() => new Map());
  let batch: { file: string; crops: RgbImage[] }[] = [];
  let embedding: Promise<void> = Promise.resolve();
  const flush = () => {
    const faces = batch;
    batch = [];
    const previous = embedding;
    embedding = (async () => {
      await previous;
      for (const [w, way] of ways.entries()) {
        const vectors = await way.embedder.embed(faces.map((f) => f.crops[w]!));
        faces.forEach((f, i) => out[w]!.set(f.file, vectors[i]!));
      }
    })();
    // a failure surfaces at the final await, not as an unhandled rejection in between
    embedding.catch(() => undefined);
  };
  // two photos in flight: one decoding in sharp's threads while the other is detected and aligned
  await mapInOrder(
    files,
    2,
    async (file) => {
      const image = await readImageFile(file);
      const face = subjectFace(file, image, await detector.detect(image));
      return face ? Promise.all(ways.map(async (way) => (way.adjust ?? ((c: RgbImage) => c))(await way.aligner.align(image, face)))) : undefined;
    },
    (crops, i) => {
      const file = files[i]!;
      if (crops) batch.push({ file, crops });
      else for (const e of out) e.set(file, null);
      if (batch.length === 16) flush();
      progress?.(i + 1);
    },
  );
  flush();
  await embedding;
  return out;
}

export interface LfwPair {
  a: string;
  b: string;
  same: boolean;
}

/** `pairs.txt`: counts of same and different pairs, then `name i j` and `name1 i name2 j` lines. */
export function lfwPairs(datasets: string): { same: LfwPair[]; different: LfwPair[] } {
  const dir = path.join(datasets, 'lfw-pairs');
  const file = (name: string, i: string): string => path.join(dir, 'images', name, `${name}_${i.padStart(4, '0')}.jpg`);
  const [header, ...lines] = readFileSync(path.join(dir, 'pairs.txt'), 'utf8').split('\n').filter((l) => l.trim().length > 0);
  const [sameCount] = header!.split(/\s+/).map(Number);
  const pairs = lines.map((line) => {
    const f = line.split('\t');
    return f.length === 3 ? { a: file(f[0]!, f[1]!), b: file(f[0]!, f[2]!), same: true } : { a: file(f[0]!, f[1]!), b: file(f[2]!, f[3]!), same: false };
  });
  return { same: pairs.slice(0, sameCount), different: pairs.slice(sameCount) };
}

export interface OpenSetProtocol {
  name: string;
  /** Known people's training photos (the gallery). */
  train: { person: string; file: string }[];
  /** Known people's test photos. */
  known: { person: string; file: string }[];
  /** Photos of people never trained on. */
  strangers: string[];
}

/** Every photo a protocol reads: training photos, known people's test photos, strangers. */
export function protocolPhotos(p: OpenSetProtocol): string[] {
  return [...p.train.map((t) => t.file), ...p.known.map((k) => k.file), ...p.strangers];
}

export interface PersonPhotos {
  person: string;
  files: string[];
}

export function peopleIn(dir: string): PersonPhotos[] {
  return list(dir).map((person) => ({ person, files: list(path.join(dir, person)).map((f) => path.join(dir, person, f)) }));
}

function protocol(name: string, known: PersonPhotos[], strangers: PersonPhotos[], trainPerPerson: number): OpenSetProtocol {
  return {
    name,
    train: known.flatMap((p) => p.files.slice(0, trainPerPerson).map((file) => ({ person: p.person, file }))),
    known: known.flatMap((p) => p.files.slice(trainPerPerson).map((file) => ({ person: p.person, file }))),
    strangers: strangers.flatMap((p) => p.files),
  };
}

/**
 * Known people train on a few photos (the first in name order) and test on the rest; strangers
 * are whole people held out: every fourth person of ORL, Yale and bbt, the last of the
 * five celebrities, and in LFW everyone with fewer than 4 photos (people with 4+ are known).
 */
export function openSetProtocols(datasets: string): OpenSetProtocol[] {
  const everyFourth = (people: PersonPhotos[]) => ({ known: people.filter((_, i) => i % 4 !== 3), strangers: people.filter((_, i) => i % 4 === 3) });
  const lfw = peopleIn(path.join(datasets, 'lfw-pairs', 'images'));
  const orl = everyFourth(peopleIn(path.join(datasets, 'orl')));
  const yale = everyFourth(peopleIn(path.join(datasets, 'yale')));
  const bbt = everyFourth(peopleIn(path.join(datasets, 'bbt')));
  const celebrityTrain = peopleIn(path.join(datasets, 'five-celebrities', 'train'));
  const celebrityVal = peopleIn(path.join(datasets, 'five-celebrities', 'val'));
  const celebrities = celebrityTrain.map((p, i) => ({ person: p.person, files: [...p.files, ...celebrityVal[i]!.files] }));
  const strangerCelebrity = celebrities.at(-1)!;
  return [
    protocol('lfw (people with 4+ photos known, 2 train)', lfw.filter((p) => p.files.length >= 4), lfw.filter((p) => p.files.length < 4), 2),
    protocol('orl (30 known x 5 train, 10 strangers)', orl.known, orl.strangers, 5),
    protocol('yale (11 known x 6 train, 4 strangers)', yale.known, yale.strangers, 6),
    protocol('bbt (6 known x 3 train, 2 strangers)', bbt.known, bbt.strangers, 3),
    {
      name: 'five-celebrities (4 known, their train split; 1 stranger)',
      train: celebrityTrain.slice(0, -1).flatMap((p) => p.files.map((file) => ({ person: p.person, file }))),
      known: celebrityVal.slice(0, -1).flatMap((p) => p.files.map((file) => ({ person: p.person, file }))),
      strangers: strangerCelebrity.files,
    },
  ];
}

/** Standard deviations above the mean different-person similarity of a base's unknown floor: a normal tail of 1e-4 (see EmbeddingBaseRow.unknownFloor). */
export const STRANGER_FLOOR_SD = 3.72;

function normalTail(xs: number[], sd: number): number {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return mean + sd * Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
}

/** LFW-pairs figures from one embedding per photo (null: no face found); higher `similarity` means more alike. */
export function verificationFigures(datasets: string, embeddings: Embeddings, similarity: (a: Float32Array, b: Float32Array) => number = cosine, pairs = lfwPairs(datasets), folds = 10) {
  const { same, different } = pairs;
  let noFace = 0;
  const score = (pairs: typeof same): ScoredPair[] =>
    pairs.map((p) => {
      const a = embeddings.get(p.a);
      const b = embeddings.get(p.b);
      // a pair with a face not found counts as a wrong answer: "different" for same pairs and vice versa
      if (!a || !b) {
        noFace++;
        return { similarity: p.same ? -Infinity : Infinity, same: p.same };
      }
      return { similarity: similarity(a, b), same: p.same };
    });
  const s = score(same);
  const d = score(different);
  const all = [...s, ...d];
  const folded = foldedAccuracy(s, d, folds);
  return {
    pairs: all.length,
    folds,
    pairsWithoutFace: noFace,
    tenFoldAccuracy: folded.mean,
    tenFoldStd: folded.std,
    trueAcceptAtFar1: trueAcceptAt(all, 0.01).trueAcceptRate,
    trueAcceptAtFar01: trueAcceptAt(all, 0.001).trueAcceptRate,
    auroc: pairAuroc(all),
    bestThreshold: bestAccuracyThreshold(all).threshold,
    thresholdAtFar1: trueAcceptAt(all, 0.01).threshold,
    thresholdAtFar01: trueAcceptAt(all, 0.001).threshold,
    strangerFloor: normalTail(d.map((p) => p.similarity).filter(Number.isFinite), STRANGER_FLOOR_SD),
  };
}

/**
 * Open-set figures of each unknown rule: thresholds from simulated strangers only (leave one known
 * person out), alone and with the base's shared-data floor; strangers are only used to measure.
 */
export function openSetFigures(p: OpenSetProtocol, embeddings: Embeddings, floor: number, targetFar: number) {
  const people = [...new Set(p.train.map((t) => t.person))];
  const gallery: PersonGallery[] = people.map((person) => ({ person, embeddings: p.train.filter((t) => t.person === person).flatMap((t) => embeddings.get(t.file) ?? []) }));
  const usable = gallery.filter((g) => g.embeddings.length > 0);
  const centroids = centroidsOf(usable);
  const known = p.known.flatMap((k) => (embeddings.get(k.file) ? [{ person: k.person, e: embeddings.get(k.file)! }] : []));
  const strangers = p.strangers.flatMap((f) => embeddings.get(f) ?? []);
  const rate = (xs: boolean[]) => xs.filter(Boolean).length / Math.max(1, xs.length);
  const rules = Object.fromEntries(
    UNKNOWN_RULES.map((rule) => {
      const knownScores = known.map((k) => ({ ...scoreFace(k.e, usable, rule, centroids), truth: k.person }));
      const strangerScores = strangers.map((e) => scoreFace(e, usable, rule, centroids).score);
      const simulated = leaveOnePersonOutScores(usable, rule);
      const at = (threshold: number) => ({
        threshold,
        knownAccepted: rate(knownScores.map((k) => k.score >= threshold)),
        knownCorrectlyNamed: rate(knownScores.map((k) => k.score >= threshold && k.person === k.truth)),
        strangersAccepted: rate(strangerScores.map((s) => s >= threshold)),
      });
      return [
        rule,
        {
          closedSetTop1: rate(knownScores.map((k) => k.person === k.truth)),
          auroc: areaUnderCurve(rocCurve(knownScores.map((k) => k.score), strangerScores)),
          leaveOnePersonOut: at(strangerThreshold(simulated, targetFar)),
          ...(rule === 'margin' || rule === 'normalised' ? {} : { withSharedFloor: at(strangerThreshold(simulated, targetFar, floor)) }),
        },
      ];
    }),
  );
  return { people: usable.length, trainPhotos: p.train.length, knownPhotos: known.length, strangerPhotos: strangers.length, facesNotFound: p.known.length + p.strangers.length - known.length - strangers.length, rules };
}

export interface GalleryMatchQuery {
  person: string;
  file: string;
  /** The templates it is matched against (a leave-one-out query is not among them). */
  gallery: { person: string; file: string }[];
}

/**
 * The photos a gallery's match threshold is measured on (49 queries): five-celebrities, each person
 * enrolled with the first 5 photos of their train split and queried with the first 5 of their val
 * split; bbt, the first 3 photos of each person, each queried against the other photos.
 */
export function galleryMatchQueries(datasets: string): GalleryMatchQuery[] {
  const first = (people: PersonPhotos[], count: number) => people.flatMap((p) => p.files.slice(0, count).map((file) => ({ person: p.person, file })));
  const enrolled = first(peopleIn(path.join(datasets, 'five-celebrities', 'train')), 5);
  const celebrityQueries = first(peopleIn(path.join(datasets, 'five-celebrities', 'val')), 5).map((q) => ({ ...q, gallery: enrolled }));
  const bbt = first(peopleIn(path.join(datasets, 'bbt')), 3);
  return [...celebrityQueries, ...bbt.map((q) => ({ ...q, gallery: bbt.filter((t) => t.file !== q.file) }))];
}

/**
 * A base's gallery match threshold (`galleryThreshold` of its row): the similarity to the nearest
 * template that makes fewest errors over the queries, counting a query whose nearest template of
 * its own person is under the threshold, and one whose nearest template of another person is at or
 * above it (the middle of the lowest interval with fewest errors).
 */
export function galleryMatchFigures(datasets: string, embeddings: Embeddings) {
  const nearest = (e: Float32Array, templates: { person: string; file: string }[], own: boolean, person: string) =>
    Math.max(-1, ...templates.filter((t) => (t.person === person) === own).flatMap((t) => (embeddings.get(t.file) ? [cosine(e, embeddings.get(t.file)!)] : [])));
  const scored = galleryMatchQueries(datasets).flatMap((q) => {
    const e = embeddings.get(q.file);
    return e ? [{ own: nearest(e, q.gallery, true, q.person), other: nearest(e, q.gallery, false, q.person) }] : [];
  });
  const errorsAt = (t: number) => scored.filter((s) => s.own < t).length + scored.filter((s) => s.other >= t).length;
  // the error count only changes just above each score: try each one and the point past it
  const candidates = [...new Set(scored.flatMap((s) => [s.own, s.other]))].sort((a, b) => a - b);
  const steps = candidates.map((c, i) => ({ from: c, to: candidates[i + 1] ?? c + 0.01 })).map((s) => ({ ...s, errors: errorsAt((s.from + s.to) / 2) }));
  const fewest = Math.min(...steps.map((s) => s.errors));
  const start = steps.findIndex((s) => s.errors === fewest);
  let end = start;
  while (steps[end + 1]?.errors === fewest) end++;
  const threshold = (steps[start]!.from + steps[end]!.to) / 2;
  return {
    queries: scored.length,
    threshold,
    ownPersonUnder: scored.filter((s) => s.own < threshold).length / scored.length,
    otherPersonAbove: scored.filter((s) => s.other >= threshold).length / scored.length,
  };
}
