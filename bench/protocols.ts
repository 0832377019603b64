import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { areaUnderCurve, rocCurve } from '../src/evaluate/metrics.js';
import { centroidsOf, leaveOnePersonOutScores, scoreFace, strangerThreshold, UNKNOWN_RULES, type PersonGallery } from '../src/evaluate/unknown-rule.js';
import { bestAccuracyThreshold, foldedAccuracy, pairAuroc, trueAcceptAt, type ScoredPair } from '../src/evaluate/verification.js';
import { cosine } from '../src/recognize/classifier.js';

/** One embedding per photo file; null where no face was found. */
export type Embeddings = Map<string, Float32Array | null>;

/**
 * The shared sets as verification pairs and open-set protocols, one definition for
 * `npm run accuracy` and the tests. Names sort numerically so s2 comes before s10.
 */

const byName = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });
const list = (dir: string): string[] => readdirSync(dir).filter((f) => f !== 'README' && !f.startsWith('.')).sort(byName);

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

interface PersonPhotos {
  person: string;
  files: string[];
}

function peopleIn(dir: string): PersonPhotos[] {
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

/** LFW-pairs figures from one embedding per photo (null: no face found). */
export function verificationFigures(datasets: string, embeddings: Embeddings) {
  const { same, different } = lfwPairs(datasets);
  let noFace = 0;
  const score = (pairs: typeof same): ScoredPair[] =>
    pairs.map((p) => {
      const a = embeddings.get(p.a);
      const b = embeddings.get(p.b);
      // a pair with a face not found counts as a wrong answer: "different" for same pairs and vice versa
      if (!a || !b) {
        noFace++;
        return { similarity: p.same ? -2 : 2, same: p.same };
      }
      return { similarity: cosine(a, b), same: p.same };
    });
  const s = score(same);
  const d = score(different);
  const all = [...s, ...d];
  const folded = foldedAccuracy(s, d, 10);
  return {
    pairs: all.length,
    pairsWithoutFace: noFace,
    tenFoldAccuracy: folded.mean,
    tenFoldStd: folded.std,
    trueAcceptAtFar1: trueAcceptAt(all, 0.01).trueAcceptRate,
    trueAcceptAtFar01: trueAcceptAt(all, 0.001).trueAcceptRate,
    auroc: pairAuroc(all),
    bestThreshold: bestAccuracyThreshold(all).threshold,
    thresholdAtFar1: trueAcceptAt(all, 0.01).threshold,
    thresholdAtFar01: trueAcceptAt(all, 0.001).threshold,
    strangerFloor: normalTail(d.map((p) => p.similarity).filter((x) => x <= 1), STRANGER_FLOOR_SD),
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
