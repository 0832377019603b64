#!/usr/bin/env node
// Recognizes faces with a facetrain export and nothing of facetrain: onnxruntime-node runs the
// detector, the landmark network and the recognizer, sharp decodes, and everything between
// (anchors, search views, alignment, the unknown decision) follows export/pipeline.json.
//
//   node recognize.mjs <export-dir> <photo>...
//
// prints one JSON line per photo: {"file", "faces": [{"box", "label", "score"}]}, labels as
// `facetrain predict` names them (`unknown` included).
//
// As a module, loadPipeline(dir, runtime) runs the same steps on another runtime's files: facetrain's
// tests pass LiteRT.js on the .tflite files (detector.tflite, landmarks.tflite, model*.tflite).
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';

const DETECTOR_SIZE = 256;
const VIEWS_PER_RUN = 16;

// ---- runtime: loads a network file; run(values, shape) gives its outputs by name ----

/**
 * onnxruntime-node, any batch. Another runtime has the same shape: `format` (the key of each
 * network's `files` in pipeline.json), `maxBatch` (TFLite: 1) and `load(file)`.
 */
export const ONNX_RUNTIME = {
  format: 'onnx',
  maxBatch: Infinity,
  async load(file) {
    const session = await ort.InferenceSession.create(file);
    return {
      async run(values, shape) {
        const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', values, shape) });
        return Object.fromEntries(session.outputNames.map((name) => [name, out[name].data]));
      },
    };
  },
};

// ---- decoding (as the pipeline's alignment.cropFrom says) ----

async function decode(file, maxSide) {
  let pipeline = sharp(file, { failOn: 'error' }).rotate();
  if (maxSide !== undefined) pipeline = pipeline.resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true });
  const { data, info } = await pipeline.flatten({ background: '#ffffff' }).toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

// ---- detector: anchors, views, decoding, suppression (pipeline.detector) ----

function anchorsOf({ layers }) {
  const anchors = [];
  for (const { stride, grid, anchorsPerCell } of layers) {
    for (let y = 0; y < grid; y++) for (let x = 0; x < grid; x++) for (let n = 0; n < anchorsPerCell; n++) anchors.push([stride * (x + 0.5), stride * (y + 0.5)]);
  }
  return anchors;
}

function wholeView(width, height, padding) {
  const side = Math.max(width, height) * (1 + 2 * padding);
  return { left: (width - side) / 2, top: (height - side) / 2, step: side / DETECTOR_SIZE };
}

function tileStarts(length, side) {
  if (side >= length) return [(length - side) / 2];
  const count = Math.ceil((2 * (length - side)) / side) + 1;
  return Array.from({ length: count }, (_, i) => (i * (length - side)) / (count - 1));
}

function searchViews(width, height, search) {
  const whole = wholeView(width, height, search.padding);
  const views = [whole];
  const smallestWholeFace = search.minFaceAtInput * whole.step;
  for (let side = (search.minFaceSize * DETECTOR_SIZE) / search.minFaceAtInput; (search.minFaceAtInput * side) / DETECTOR_SIZE < smallestWholeFace; side *= 2) {
    for (const top of tileStarts(height, side)) for (const left of tileStarts(width, side)) views.push({ left, top, step: side / DETECTOR_SIZE });
  }
  return views;
}

/** The view as detector input: bilinear from the 8-bit pixels, pixel / 127.5 - 1, -1 outside the photo. */
function writeView(image, view, out, offset) {
  const { width, height, data } = image;
  for (let i = 0; i < DETECTOR_SIZE; i++) {
    const y = view.top + (i + 0.5) * view.step - 0.5;
    for (let j = 0; j < DETECTOR_SIZE; j++) {
      const o = offset + (i * DETECTOR_SIZE + j) * 3;
      const x = view.left + (j + 0.5) * view.step - 0.5;
      if (y < 0 || y > height - 1 || x < 0 || x > width - 1) {
        out[o] = out[o + 1] = out[o + 2] = -1;
        continue;
      }
      const [x0, x1, fx] = [Math.floor(x), Math.ceil(x), x - Math.floor(x)];
      const [y0, y1, fy] = [Math.floor(y), Math.ceil(y), y - Math.floor(y)];
      for (let ch = 0; ch < 3; ch++) {
        const tl = data[(y0 * width + x0) * 3 + ch];
        const tr = data[(y0 * width + x1) * 3 + ch];
        const bl = data[(y1 * width + x0) * 3 + ch];
        const br = data[(y1 * width + x1) * 3 + ch];
        const t = tl + (tr - tl) * fx;
        const b = bl + (br - bl) * fx;
        out[o + ch] = (t + (b - t) * fy) / 127.5 - 1;
      }
    }
  }
}

function iou(a, b) {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

class Detector {
  constructor(network, spec, maxBatch) {
    this.network = network;
    this.spec = spec;
    this.viewsPerRun = Math.min(VIEWS_PER_RUN, maxBatch);
    this.anchors = anchorsOf(spec.anchors);
    const [first] = spec.anchors.layers;
    this.fineCount = first.grid * first.grid * first.anchorsPerCell;
    // outputs told apart by shape: [views, anchors, 1] scores and [views, anchors, 16] regressors of each layer
    const find = (anchors, values) => spec.outputs.find((o) => o.shape[1] === anchors && o.shape[2] === values).name;
    const coarse = this.anchors.length - this.fineCount;
    this.names = { fineScores: find(this.fineCount, 1), fineBoxes: find(this.fineCount, 16), coarseScores: find(coarse, 1), coarseBoxes: find(coarse, 16) };
  }

  /** Raw rows of every anchor for a view: [logit, cx, cy, w, h, 6 x (x, y)]. */
  async run(image, views) {
    const rows = [];
    const perView = DETECTOR_SIZE * DETECTOR_SIZE * 3;
    for (let start = 0; start < views.length; start += this.viewsPerRun) {
      const batch = views.slice(start, start + this.viewsPerRun);
      const input = new Float32Array(batch.length * perView);
      batch.forEach((view, v) => writeView(image, view, input, v * perView));
      const out = await this.network.run(input, [batch.length, DETECTOR_SIZE, DETECTOR_SIZE, 3]);
      const { fineScores, fineBoxes, coarseScores, coarseBoxes } = Object.fromEntries(Object.entries(this.names).map(([k, name]) => [k, out[name]]));
      const coarse = this.anchors.length - this.fineCount;
      batch.forEach((_, v) => {
        rows.push((a) => (a < this.fineCount
          ? [fineScores[v * this.fineCount + a], fineBoxes.subarray((v * this.fineCount + a) * 16, (v * this.fineCount + a + 1) * 16)]
          : [coarseScores[v * coarse + a - this.fineCount], coarseBoxes.subarray((v * coarse + a - this.fineCount) * 16, (v * coarse + a - this.fineCount + 1) * 16)]));
      });
    }
    return rows;
  }

  decode(row, view) {
    const faces = [];
    const minLogit = Math.log(this.spec.minScore / (1 - this.spec.minScore));
    this.anchors.forEach(([ax, ay], a) => {
      const [logit, r] = row(a);
      if (logit < minLogit) return;
      const at = (x, y) => [view.left + (ax + x) * view.step, view.top + (ay + y) * view.step];
      const [cx, cy] = at(r[0], r[1]);
      const w = r[2] * view.step;
      const h = r[3] * view.step;
      const landmarks = [];
      for (let k = 0; k < 6; k++) landmarks.push(at(r[4 + 2 * k], r[5 + 2 * k]));
      faces.push({ box: { x: cx - w / 2, y: cy - h / 2, width: w, height: h }, landmarks, score: 1 / (1 + Math.exp(-logit)) });
    });
    return faces;
  }

  async detect(image) {
    const { search, iouThreshold } = this.spec;
    const views = searchViews(image.width, image.height, search);
    const finest = Math.min(...views.map((v) => v.step));
    const rows = await this.run(image, views);
    const cut = (face, view) => {
      const side = view.step * DETECTOR_SIZE;
      const margin = view.step * 2;
      const { x, y, width: w, height: h } = face.box;
      return (x < view.left + margin && view.left > 0) || (y < view.top + margin && view.top > 0)
        || (x + w > view.left + side - margin && view.left + side < image.width) || (y + h > view.top + side - margin && view.top + side < image.height);
    };
    const tooSmall = (face, view) => view.step > finest && face.box.width / view.step < search.minFaceAtInput;
    const candidates = views.flatMap((view, i) => this.decode(rows[i], view).filter((f) => !cut(f, view) && !tooSmall(f, view)));
    const kept = [];
    for (const face of candidates.sort((a, b) => b.score - a.score)) if (kept.every((k) => iou(k.box, face.box) <= iouThreshold)) kept.push(face);
    // a face narrower than minFaceFraction of the shorter side was found by chance (no view looks for it)
    const wide = kept.filter((f) => f.box.width >= search.minFaceFraction * Math.min(image.width, image.height));
    return wide.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height);
  }
}

// ---- alignment (pipeline.alignment) ----

/** Least-squares similarity taking `from` onto `to` (Umeyama, 2-D): u = a x + b y + c, v = d x + e y + f. */
function similarity(from, to) {
  const mean = (ps) => [ps.reduce((s, p) => s + p[0], 0) / ps.length, ps.reduce((s, p) => s + p[1], 0) / ps.length];
  const [fx, fy] = mean(from);
  const [tx, ty] = mean(to);
  let dot = 0;
  let cross = 0;
  let norm = 0;
  from.forEach(([x0, y0], i) => {
    const [x, y, u, v] = [x0 - fx, y0 - fy, to[i][0] - tx, to[i][1] - ty];
    dot += x * u + y * v;
    cross += x * v - y * u;
    norm += x * x + y * y;
  });
  const a = dot / norm;
  const b = cross / norm;
  return { a, b: -b, c: tx - (a * fx - b * fy), d: b, e: a, f: ty - (b * fx + a * fy) };
}

/** Bilinear warp into a size x size crop; outside the photo the nearest edge pixel. */
function warp(image, m, size) {
  const det = m.a * m.e - m.b * m.d;
  const inv = { a: m.e / det, b: -m.b / det, d: -m.d / det, e: m.a / det };
  inv.c = -(inv.a * m.c + inv.b * m.f);
  inv.f = -(inv.d * m.c + inv.e * m.f);
  const { width, height, data } = image;
  const clamp = (v, hi) => (v < 0 ? 0 : v > hi ? hi : v);
  const out = new Uint8Array(size * size * 3);
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const sx = clamp(inv.a * (u + 0.5) + inv.b * (v + 0.5) + inv.c - 0.5, width - 1);
      const sy = clamp(inv.d * (u + 0.5) + inv.e * (v + 0.5) + inv.f - 0.5, height - 1);
      const [x0, y0] = [Math.floor(sx), Math.floor(sy)];
      const [x1, y1] = [Math.min(x0 + 1, width - 1), Math.min(y0 + 1, height - 1)];
      const [fx, fy] = [sx - x0, sy - y0];
      for (let ch = 0; ch < 3; ch++) {
        const top = data[(y0 * width + x0) * 3 + ch] * (1 - fx) + data[(y0 * width + x1) * 3 + ch] * fx;
        const bottom = data[(y1 * width + x0) * 3 + ch] * (1 - fx) + data[(y1 * width + x1) * 3 + ch] * fx;
        out[(v * size + u) * 3 + ch] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
  return out;
}

// ---- the pipeline ----

// ---- landmark network (pipeline.landmarks), when the alignment points come from one ----

/** 64x64 grey (luma / 256) of the box, bilinear, edge pixels repeated past the photo. */
function greyCrop(image, box, side) {
  const { width, height, data } = image;
  const clamp = (v, hi) => (v < 0 ? 0 : v > hi ? hi : v);
  const luma = (i) => 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
  const out = new Float32Array(side * side);
  for (let v = 0; v < side; v++) {
    const y = clamp(box.y + (v + 0.5) * (box.height / side) - 0.5, height - 1);
    const [y0, fy] = [Math.floor(y), y - Math.floor(y)];
    const y1 = Math.min(y0 + 1, height - 1);
    for (let u = 0; u < side; u++) {
      const x = clamp(box.x + (u + 0.5) * (box.width / side) - 0.5, width - 1);
      const [x0, fx] = [Math.floor(x), x - Math.floor(x)];
      const x1 = Math.min(x0 + 1, width - 1);
      const top = luma((y0 * width + x0) * 3) * (1 - fx) + luma((y0 * width + x1) * 3) * fx;
      const bottom = luma((y1 * width + x0) * 3) * (1 - fx) + luma((y1 * width + x1) * 3) * fx;
      out[v * side + u] = (top * (1 - fy) + bottom * fy) / 256;
    }
  }
  return out;
}

/** The five alignment points of a face found in `image` (the landmark network on its box). */
async function fivePoints(network, spec, image, face) {
  const [, , side] = spec.input.shape;
  const out = await network.run(greyCrop(image, face.box, side), spec.input.shape);
  const [xy] = Object.values(out);
  const point = (i) => [face.box.x + xy[2 * i] * face.box.width, face.box.y + xy[2 * i + 1] * face.box.height];
  return spec.fivePoints.from68.map((indices) => {
    const ps = indices.map(point);
    return [ps.reduce((s, p) => s + p[0], 0) / ps.length, ps.reduce((s, p) => s + p[1], 0) / ps.length];
  });
}

/**
 * The export's networks on `runtime`, the recognizer in `recognizerFormat` (a key of
 * pipeline.json's recognizer.files, e.g. 'tflite-int8'; by default the runtime's own format).
 */
export async function loadPipeline(dir, runtime = ONNX_RUNTIME, recognizerFormat = runtime.format) {
  const spec = JSON.parse(await readFile(path.join(dir, 'pipeline.json'), 'utf8'));
  if (spec.format !== 'facetrain-pipeline' || spec.version !== 1) throw new Error(`${dir}/pipeline.json: not a facetrain pipeline description (version 1)`);
  const file = (files, format) => {
    if (!files[format]) throw new Error(`${dir}/pipeline.json: no ${format} file of ${Object.values(files).join(', ')}; export that format`);
    return path.join(dir, files[format]);
  };
  const [detector, recognizer, landmarks] = await Promise.all([
    runtime.load(file(spec.detector.files, runtime.format)),
    runtime.load(file(spec.recognizer.files, recognizerFormat)),
    spec.landmarks ? runtime.load(file(spec.landmarks.files, runtime.format)) : undefined,
  ]);
  return { spec, detector: new Detector(detector, spec.detector, runtime.maxBatch), recognizer, landmarks, maxBatch: runtime.maxBatch };
}

/** Where the alignment points are for a face: the detector's keypoints or the landmark network's five. */
async function pointsFor(pipeline, image, face) {
  const { spec, landmarks } = pipeline;
  if (spec.alignment.landmarkSource !== 'landmarks') return spec.alignment.points.map((p) => face.landmarks[p.index]);
  const five = await fivePoints(landmarks, spec.landmarks, image, face);
  return spec.alignment.points.map((p) => five[p.index]);
}

/** The detector's side a W x H photo is searched at (pipeline.detector.search.searchSide). */
function searchSide(width, height, search) {
  const longer = Math.max(width, height);
  const wanted = Math.ceil((longer * search.minFaceSize) / Math.max(search.minFaceSize, search.minFaceFraction * Math.min(width, height)));
  return Math.min(search.maxSide, wanted >= longer - 2 ? longer : wanted);
}

/** The eye-placement crop's scale, which picks the decode size as predict does. */
function eyeScale(face, size, alignment) {
  const [left, right] = [face.landmarks[0], face.landmarks[1]];
  return (alignment.eyeDistance * size) / Math.hypot(right[0] - left[0], right[1] - left[1]);
}

/** Runs the recognizer on `faces` crops in batches the runtime takes: its `probabilities` and `score`, all faces in a row. */
async function recognize(pipeline, input, faces, size) {
  const perFace = size * size * 3;
  const people = pipeline.spec.labels.length;
  const [probabilities, score] = [new Float32Array(faces * people), new Float32Array(faces)];
  const perRun = Math.min(faces, pipeline.maxBatch);
  for (let start = 0; start < faces; start += perRun) {
    const count = Math.min(perRun, faces - start);
    const out = await pipeline.recognizer.run(input.subarray(start * perFace, (start + count) * perFace), [count, size, size, 3]);
    probabilities.set(out.probabilities.subarray(0, count * people), start * people);
    score.set(out.score.subarray(0, count), start);
  }
  return { probabilities, score };
}

export async function recognizeFile(pipeline, file) {
  const { spec, detector } = pipeline;
  const { alignment } = spec;
  const size = alignment.size;
  const bytes = await readFile(file);
  const stored = await sharp(bytes).metadata();
  const [storedW, storedH] = (stored.orientation ?? 1) >= 5 ? [stored.height, stored.width] : [stored.width, stored.height];
  const image = await decode(bytes, searchSide(storedW, storedH, spec.detector.search));
  const scale = Math.max(stored.width, stored.height) / Math.max(image.width, image.height);
  const faces = await detector.detect(image);
  if (faces.length === 0) return { file, faces: [] };
  // a face smaller in the shrunk photo than in its crop is cut from a larger decode
  const enlargement = Math.max(1, ...faces.map((face) => eyeScale(face, size, spec.alignment.eyePlacement)));
  let cropFrom = image;
  let cropScale = 1;
  if (enlargement > 1.01 && scale > 1.01) {
    cropFrom = await decode(bytes, Math.ceil(Math.max(image.width, image.height) * Math.min(enlargement, scale)));
    cropScale = cropFrom.width / image.width;
  }
  const { mean, std } = spec.recognizer.input;
  const input = new Float32Array(faces.length * size * size * 3);
  for (const [i, face] of faces.entries()) {
    const scaled = { box: { x: face.box.x * cropScale, y: face.box.y * cropScale, width: face.box.width * cropScale, height: face.box.height * cropScale }, landmarks: face.landmarks.map(([x, y]) => [x * cropScale, y * cropScale]) };
    const points = await pointsFor(pipeline, cropFrom, scaled);
    const crop = warp(cropFrom, similarity(points, alignment.points.map((p) => p.to)), size);
    for (let j = 0; j < crop.length; j++) input[i * crop.length + j] = (crop[j] - mean) / std;
  }
  const { probabilities, score } = await recognize(pipeline, input, faces.length, size);
  const people = spec.labels.length;
  return {
    file,
    faces: faces.map((face, i) => {
      const row = probabilities.subarray(i * people, (i + 1) * people);
      let best = 0;
      for (let p = 1; p < people; p++) if (row[p] > row[best]) best = p;
      const box = { x: face.box.x * scale, y: face.box.y * scale, width: face.box.width * scale, height: face.box.height * scale };
      return { box, label: score[i] >= spec.threshold ? spec.labels[best] : spec.decision.unknownLabel, score: score[i] };
    }),
  };
}

async function main() {
  const [dir, ...photos] = process.argv.slice(2);
  if (!dir || photos.length === 0) {
    process.stderr.write('usage: node recognize.mjs <export-dir> <photo>...\n');
    process.exit(2);
  }
  const pipeline = await loadPipeline(dir);
  let failed = false;
  for (const file of photos) {
    try {
      process.stdout.write(`${JSON.stringify(await recognizeFile(pipeline, file))}\n`);
    } catch (err) {
      failed = true;
      process.stderr.write(`error: ${file}: ${err.message.split('\n')[0]}\n`);
    }
  }
  process.exit(failed ? 1 : 0);
}

// run as a program (also through npm's bin link), not when imported
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`error: ${err.message.split('\n')[0]}\n`);
    process.exit(1);
  });
}
