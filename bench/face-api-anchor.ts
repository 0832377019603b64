import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { areaUnderCurve, rocCurve } from '../src/evaluate/metrics.js';
import { decodeImage, readImageBytes } from '../src/image/decode.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { FACE_API_VERSION, faceApiFaces, loadFaceApiModels, type FaceApi } from './face-api.js';
import { lfwPairs, protocolPhotos, subjectFace, subjectRule, verificationFigures, type Embeddings, type LfwPair, type OpenSetProtocol } from './protocols.js';

/**
 * The face-api anchor of `npm run accuracy`: @vladmandic/face-api with its own pipeline (SSD
 * MobileNetV1, 68 landmarks, dlib's 128-d descriptor, Euclidean distance; FaceMatcher at its
 * default 0.6 decides who is accepted) on the same photos, pairs and protocols as the bases.
 */

/** FaceMatcher's default distance threshold: a face this far or farther from everyone is `unknown`. */
const FACE_MATCHER_THRESHOLD = 0.6;

/** Where descriptors are kept between runs (about half a second per photo on wasm): one entry per photo content and subject rule. */
const cacheFile = process.env.ACCURACY_FACE_API_CACHE ?? path.join(os.tmpdir(), `facetrain-face-api-${FACE_API_VERSION}-descriptors.json`);

const euclidean = (a: Float32Array, b: Float32Array): number => Math.sqrt(a.reduce((sum, v, i) => sum + (v - b[i]!) ** 2, 0));

/**
 * One descriptor per photo (null: face-api found no face), the subject face chosen as for the bases
 * (bench/protocols.ts subjectFace: the largest, in LFW the one nearest the centre).
 */
async function describePhotos(faceapi: FaceApi, files: readonly string[], budgetMs: number): Promise<{ descriptors: Embeddings; secondsPerPhoto?: number }> {
  const cached: Record<string, number[] | null> = existsSync(cacheFile) ? JSON.parse(readFileSync(cacheFile, 'utf8')) : {};
  const descriptors: Embeddings = new Map();
  let described = 0;
  const started = performance.now();
  for (const [i, file] of files.entries()) {
    const bytes = await readImageBytes(file);
    const key = `${subjectRule(file)}:${createHash('sha256').update(bytes).digest('hex')}`;
    if (!(key in cached)) {
      if (performance.now() - started > budgetMs) continue;
      const image = await decodeImage(bytes, file);
      const faces = (await faceApiFaces(faceapi, image)).map((f) => ({ box: f.detection.box, descriptor: f.descriptor }));
      faces.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height);
      const face = subjectFace(file, image, faces);
      cached[key] = face ? Array.from(face.descriptor) : null;
      described++;
      // a long first run survives an interruption: every 50 new photos are kept
      if (described % 50 === 0) {
        await writeFileAtomic(cacheFile, JSON.stringify(cached));
        process.stderr.write(`face-api: ${i + 1}/${files.length} photos (${described} described, ${((performance.now() - started) / 1000 / described).toFixed(2)} s each)\n`);
      }
    }
    const descriptor = cached[key];
    descriptors.set(file, descriptor ? Float32Array.from(descriptor) : null);
  }
  if (described > 0) await writeFileAtomic(cacheFile, JSON.stringify(cached));
  return { descriptors, secondsPerPhoto: described > 0 ? (performance.now() - started) / 1000 / described : undefined };
}

/** A protocol as face-api's FaceMatcher sees it: each known person's training descriptors, mean distance to them, `unknown` from 0.6 on. */
function faceMatcherFigures(faceapi: FaceApi, p: OpenSetProtocol, descriptors: Embeddings) {
  const people = [...new Set(p.train.map((t) => t.person))];
  const labelled = people.flatMap((person) => {
    const own = p.train.filter((t) => t.person === person).flatMap((t) => descriptors.get(t.file) ?? []);
    return own.length > 0 ? [new faceapi.LabeledFaceDescriptors(person, own)] : [];
  });
  const matcher = new faceapi.FaceMatcher(labelled, FACE_MATCHER_THRESHOLD);
  const known = p.known.flatMap((k) => (descriptors.get(k.file) ? [{ person: k.person, match: matcher.matchDescriptor(descriptors.get(k.file)!) }] : []));
  const strangers = p.strangers.flatMap((f) => (descriptors.get(f) ? [matcher.matchDescriptor(descriptors.get(f)!)] : []));
  const accepted = (m: { distance: number }) => m.distance < FACE_MATCHER_THRESHOLD;
  const rate = (xs: boolean[]) => xs.filter(Boolean).length / Math.max(1, xs.length);
  return {
    people: labelled.length,
    trainPhotos: p.train.length,
    knownPhotos: known.length,
    strangerPhotos: strangers.length,
    facesNotFound: p.known.length + p.strangers.length - known.length - strangers.length,
    closedSetTop1: rate(known.map((k) => k.match.label === k.person)),
    knownAccepted: rate(known.map((k) => accepted(k.match))),
    knownCorrectlyNamed: rate(known.map((k) => accepted(k.match) && k.match.label === k.person)),
    strangersAccepted: rate(strangers.map(accepted)),
    // the nearer, the more likely known: the score is minus the mean distance
    auroc: known.length > 0 && strangers.length > 0 ? areaUnderCurve(rocCurve(known.map((k) => -k.match.distance), strangers.map((s) => -s.distance))) : undefined,
  };
}

/** Protocols described before LFW's pairs (bbt, five-celebrities, Yale: about 320 photos). */
const SMALL_PROTOCOL_PHOTOS = 200;

/** LFW's pairs fold by fold (foldedAccuracy's consecutive folds), so that a run cut short by its time budget still covers whole folds. */
function pairsByFold(datasets: string, folds: number): LfwPair[][] {
  const { same, different } = lfwPairs(datasets);
  const inFold = (pairs: LfwPair[], f: number) => pairs.filter((_, i) => Math.floor((i * folds) / pairs.length) === f);
  return Array.from({ length: folds }, (_, f) => [...inFold(same, f), ...inFold(different, f)]);
}

/**
 * The anchor's figures on LFW pairs (10 folds, as the bases) and on `protocols`. With a time budget
 * (ACCURACY_FACE_API_MINUTES) describing stops when it runs out (the cache keeps what was done); the
 * LFW figures are then those of the whole folds described (`folds` < 10) and protocols not fully
 * described are left out.
 */
export async function faceApiAnchor(datasets: string, protocols: OpenSetProtocol[]) {
  const folds = pairsByFold(datasets, 10);
  // the small protocols first, then LFW fold by fold, then the large protocols: a cut-short run still measures some of each
  const bySize = [...protocols].sort((a, b) => protocolPhotos(a).length - protocolPhotos(b).length);
  const small = bySize.filter((p) => protocolPhotos(p).length <= SMALL_PROTOCOL_PHOTOS);
  const files = [...new Set([...small.flatMap(protocolPhotos), ...folds.flat().flatMap((p) => [p.a, p.b]), ...bySize.flatMap(protocolPhotos)])];
  const faceapi = await loadFaceApiModels();
  const budget = process.env.ACCURACY_FACE_API_MINUTES ? Number(process.env.ACCURACY_FACE_API_MINUTES) * 60_000 : Infinity;
  const { descriptors, secondsPerPhoto } = await describePhotos(faceapi, files, budget);
  const described = (p: LfwPair) => descriptors.has(p.a) && descriptors.has(p.b);
  const whole = folds.findIndex((fold) => !fold.every(described));
  const measuredFolds = whole === -1 ? folds : folds.slice(0, whole);
  const pairs = { same: measuredFolds.flat().filter((p) => p.same), different: measuredFolds.flat().filter((p) => !p.same) };
  const similarity = (a: Float32Array, b: Float32Array) => -euclidean(a, b);
  const lfw = measuredFolds.length >= 2 ? verificationFigures(datasets, descriptors, similarity, pairs, measuredFolds.length) : undefined;
  // face-api misses faces the bases find (SSD on tight or small faces): its figures on the pairs where it found both
  const found = (p: LfwPair) => descriptors.get(p.a) && descriptors.get(p.b);
  const foundPairs = { same: pairs.same.filter(found), different: pairs.different.filter(found) };
  const lfwFacesFound = measuredFolds.length >= 2 ? verificationFigures(datasets, descriptors, similarity, foundPairs, measuredFolds.length) : undefined;
  const inDistances = (figures: ReturnType<typeof verificationFigures>) => {
    const { strangerFloor: _, bestThreshold, thresholdAtFar1, thresholdAtFar01, ...rest } = figures;
    return { ...rest, bestDistance: -bestThreshold, distanceAtFar1: -thresholdAtFar1, distanceAtFar01: -thresholdAtFar01 };
  };
  const complete = protocols.filter((p) => protocolPhotos(p).every((f) => descriptors.has(f)));
  return {
    version: FACE_API_VERSION,
    cacheFile,
    photos: files.length,
    photosDescribed: descriptors.size,
    photosWithoutFace: [...descriptors.values()].filter((d) => d === null).length,
    secondsPerPhotoDescribed: secondsPerPhoto,
    lfw: lfw && inDistances(lfw),
    lfwFacesFound: lfwFacesFound && inDistances(lfwFacesFound),
    openSet: Object.fromEntries(complete.map((p) => [p.name, faceMatcherFigures(faceapi, p, descriptors)])),
  };
}
