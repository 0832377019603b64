import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BaseName } from '../src/config.js';
import { embeddingRow } from '../src/recognize/embedding-base.js';
import { facePipelineOn, type FacePipeline } from '../src/recognize/face-pipeline.js';
import { chooseRuntime } from '../src/runtime/choose.js';
import { readImageFile, type RgbImage } from '../src/image/decode.js';
import { median } from '../src/evaluate/metrics.js';
import { faceApiAnchor } from './face-api-anchor.js';
import { embedPhotos, galleryMatchFigures, galleryMatchQueries, lfwPairs, openSetFigures, openSetProtocols, protocolPhotos, verificationFigures, type Embeddings } from './protocols.js';

/**
 * `npm run accuracy`: per base, LFW-pairs 10-fold verification accuracy, true-accept at 1 % and
 * 0.1 % false-accept, the open-set figures of each unknown rule on each protocol and the gallery
 * match threshold (bench/protocols.ts galleryMatchFigures), and the face-api anchor on the same
 * pairs and protocols (bench/face-api-anchor.ts). JSON on stdout and in accuracy-results.json.
 * ACCURACY_BASES picks bases (faceres-bgr: FaceRes fed BGR, measured only; face-api: the anchor,
 * `ACCURACY_BASES=face-api` runs it alone, ACCURACY_FACE_API_PROTOCOLS=lfw,orl on some protocols only,
 * ACCURACY_FACE_API_MINUTES=n within a time budget); ACCURACY_CACHE=file keeps the bases' embeddings between
 * runs (the anchor always keeps its descriptors, see ACCURACY_FACE_API_CACHE); FACETRAIN_SHARED moves ../shared.
 */

type Measured = BaseName | 'faceres-bgr';
const ANCHOR = 'face-api';
const shared = process.env.FACETRAIN_SHARED ?? path.resolve('..', 'shared');
const datasets = path.join(shared, 'datasets');
const requested = (process.env.ACCURACY_BASES ?? `mobilefacenet,faceres,faceres-bgr,${ANCHOR}`).split(',');
const bases = requested.filter((b) => b !== ANCHOR) as Measured[];
const targetFar = Number(process.env.ACCURACY_TARGET_FAR ?? 0.01);
const cacheFile = process.env.ACCURACY_CACHE;
const runtime = await chooseRuntime(undefined);

function swapRedBlue(face: RgbImage): RgbImage {
  const data = Uint8Array.from(face.data);
  for (let i = 0; i < data.length; i += 3) [data[i], data[i + 2]] = [data[i + 2]!, data[i]!];
  return { ...face, data };
}

async function embedAll(files: string[]): Promise<Map<Measured, Embeddings>> {
  const cached: Record<string, Record<string, number[] | null>> = cacheFile && existsSync(cacheFile) ? JSON.parse(readFileSync(cacheFile, 'utf8')) : {};
  const out = new Map<Measured, Embeddings>(bases.map((b) => [b, new Map(Object.entries(cached[b] ?? {}).map(([f, v]) => [f, v && Float32Array.from(v)]))]));
  const missing = files.filter((f) => bases.some((b) => !out.get(b)!.has(f)));
  if (missing.length === 0) return out;
  const loaded = new Map<BaseName, FacePipeline>();
  for (const b of bases) {
    const name: BaseName = b === 'faceres-bgr' ? 'faceres' : b;
    if (!loaded.has(name)) loaded.set(name, await facePipelineOn(runtime, embeddingRow(name)));
  }
  // one detection per photo: every base aligns the same face its own way
  const detector = loaded.values().next().value!.detector;
  const ways = bases.map((b) => ({ ...loaded.get(b === 'faceres-bgr' ? 'faceres' : b)!, ...(b === 'faceres-bgr' ? { adjust: swapRedBlue } : {}) }));
  const measured = await embedPhotos(missing, detector, ways, (done) => {
    if (done % 100 === 0) process.stderr.write(`embedded ${done}/${missing.length}\n`);
  });
  bases.forEach((b, i) => {
    for (const [file, e] of measured[i]!) out.get(b)!.set(file, e);
  });
  for (const pipeline of loaded.values()) pipeline.dispose();
  if (cacheFile) {
    const json = Object.fromEntries([...out].map(([b, m]) => [b, Object.fromEntries([...m].map(([f, v]) => [f, v && Array.from(v)]))]));
    await writeFile(cacheFile, JSON.stringify(json));
  }
  return out;
}

async function perFaceMs(name: BaseName, face: RgbImage, runs = 9): Promise<number> {
  const base = await facePipelineOn(runtime, embeddingRow(name));
  const crop = await base.aligner.align(face, { box: { x: 0, y: 0, width: face.width, height: face.height }, landmarks: [[0.35 * face.width, 0.4 * face.height], [0.65 * face.width, 0.4 * face.height], [0.5 * face.width, 0.55 * face.height], [0.5 * face.width, 0.75 * face.height]], score: 1 });
  await base.embedder.embed([crop]);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await base.embedder.embed([crop]);
    times.push(performance.now() - t);
  }
  base.dispose();
  return median(times);
}

const protocols = openSetProtocols(datasets);
const { same, different } = lfwPairs(datasets);
const files = [...new Set([...same, ...different].flatMap((p) => [p.a, p.b]).concat(protocols.flatMap(protocolPhotos), galleryMatchQueries(datasets).map((q) => q.file)))];
const started = performance.now();
const embeddings = bases.length > 0 ? await embedAll(files) : new Map<Measured, Embeddings>();
const sample = await readImageFile(path.join(datasets, 'orl', 's1', '1.pgm'));
const results: Record<string, unknown> = { date: new Date().toISOString(), photos: files.length, targetFar, embedSeconds: (performance.now() - started) / 1000, bases: {} };
for (const b of bases) {
  const e = embeddings.get(b)!;
  const lfw = verificationFigures(datasets, e);
  (results.bases as Record<string, unknown>)[b] = {
    msPerFace: b === 'faceres-bgr' ? undefined : await perFaceMs(b, sample),
    lfw,
    gallery: galleryMatchFigures(datasets, e),
    openSet: Object.fromEntries(protocols.map((p) => [p.name, openSetFigures(p, e, embeddingRow(b === 'faceres-bgr' ? 'faceres' : b).unknownFloor, targetFar)])),
  };
}
if (requested.includes(ANCHOR)) {
  // the anchor takes ~0.5-3 s a photo: ACCURACY_FACE_API_PROTOCOLS=lfw,orl limits it to LFW pairs and those protocols
  const only = process.env.ACCURACY_FACE_API_PROTOCOLS?.split(',');
  results.anchors = { [ANCHOR]: await faceApiAnchor(datasets, protocols.filter((p) => !only || only.some((name) => p.name.startsWith(name)))) };
}
await writeFile('accuracy-results.json', `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
process.exit(0);
