// The page's in-browser recognizer for face models: the TF.js pipeline export (detector, landmark
// network, recognizer as graph models) plus pipeline.json, run with TF.js in this browser, with no
// server round trip. Everything between the networks (search views, anchors, suppression,
// alignment, the unknown decision) follows pipeline.json, as examples/node-onnx/recognize.mjs does
// with onnxruntime; that example is kept free of facetrain code, so the steps are written here too.

const DETECTOR_SIZE = 256;

// ---- pixels: the photo or video frame as 8-bit RGB, white behind transparency ----

function sourceSize(source) {
  if (source instanceof HTMLVideoElement) return { width: source.videoWidth, height: source.videoHeight };
  return { width: source.naturalWidth ?? source.width, height: source.naturalHeight ?? source.height };
}

/** The source drawn at `width` x `height` (the browser resamples when that is not its own size). */
function rgbOf(source, width, height) {
  const canvas = document.createElement('canvas');
  Object.assign(canvas, { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(source, 0, 0, width, height);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    data[j] = rgba[i];
    data[j + 1] = rgba[i + 1];
    data[j + 2] = rgba[i + 2];
  }
  return { data, width, height };
}

/** The side a W x H photo is searched at (pipeline.detector.search.searchSide). */
function searchSide(width, height, search) {
  const longer = Math.max(width, height);
  const wanted = Math.ceil((longer * search.minFaceSize) / Math.max(search.minFaceSize, search.minFaceFraction * Math.min(width, height)));
  return Math.min(search.maxSide, wanted >= longer - 2 ? longer : wanted);
}

function fitted(width, height, side) {
  const scale = Math.min(1, side / Math.max(width, height));
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

// ---- detector (pipeline.detector): views, anchors, decoding, suppression ----

function anchorsOf({ layers }) {
  const anchors = [];
  for (const { stride, grid, anchorsPerCell } of layers) {
    for (let y = 0; y < grid; y++) for (let x = 0; x < grid; x++) for (let n = 0; n < anchorsPerCell; n++) anchors.push([stride * (x + 0.5), stride * (y + 0.5)]);
  }
  return anchors;
}

function tileStarts(length, side) {
  if (side >= length) return [(length - side) / 2];
  const count = Math.ceil((2 * (length - side)) / side) + 1;
  return Array.from({ length: count }, (_, i) => (i * (length - side)) / (count - 1));
}

function searchViews(width, height, search) {
  const wholeSide = Math.max(width, height) * (1 + 2 * search.padding);
  const whole = { left: (width - wholeSide) / 2, top: (height - wholeSide) / 2, step: wholeSide / DETECTOR_SIZE };
  const views = [whole];
  for (let side = (search.minFaceSize * DETECTOR_SIZE) / search.minFaceAtInput; (search.minFaceAtInput * side) / DETECTOR_SIZE < search.minFaceAtInput * whole.step; side *= 2) {
    for (const top of tileStarts(height, side)) for (const left of tileStarts(width, side)) views.push({ left, top, step: side / DETECTOR_SIZE });
  }
  return views;
}

/** Bilinear from the 8-bit pixels, pixel / 127.5 - 1, -1 outside the photo. */
function viewInput(image, view) {
  const { width, height, data } = image;
  const out = new Float32Array(DETECTOR_SIZE * DETECTOR_SIZE * 3);
  for (let i = 0; i < DETECTOR_SIZE; i++) {
    const y = view.top + (i + 0.5) * view.step - 0.5;
    for (let j = 0; j < DETECTOR_SIZE; j++) {
      const o = (i * DETECTOR_SIZE + j) * 3;
      const x = view.left + (j + 0.5) * view.step - 0.5;
      if (y < 0 || y > height - 1 || x < 0 || x > width - 1) {
        out[o] = out[o + 1] = out[o + 2] = -1;
        continue;
      }
      const [x0, x1, fx, y0, y1, fy] = [Math.floor(x), Math.ceil(x), x - Math.floor(x), Math.floor(y), Math.ceil(y), y - Math.floor(y)];
      for (let ch = 0; ch < 3; ch++) {
        const t = data[(y0 * width + x0) * 3 + ch] + (data[(y0 * width + x1) * 3 + ch] - data[(y0 * width + x0) * 3 + ch]) * fx;
        const b = data[(y1 * width + x0) * 3 + ch] + (data[(y1 * width + x1) * 3 + ch] - data[(y1 * width + x0) * 3 + ch]) * fx;
        out[o + ch] = (t + (b - t) * fy) / 127.5 - 1;
      }
    }
  }
  return out;
}

function iou(a, b) {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a.width * a.height + b.width * b.height - w * h);
}

/** Every face BlazeFace finds in `image`, largest first: box, six keypoints, score. */
async function detect(tf, pipeline, image) {
  const { spec, detector, anchors } = pipeline;
  const { search, iouThreshold, minScore } = spec.detector;
  const fine = spec.detector.anchors.layers[0].grid ** 2 * spec.detector.anchors.layers[0].anchorsPerCell;
  const outputs = spec.detector.outputs;
  // outputs told apart by shape: [1, anchors, 1] scores and [1, anchors, 16] regressors of each layer
  const named = (count, values) => outputs.find((o) => o.shape[1] === count && o.shape[2] === values).name;
  const names = [named(fine, 1), named(fine, 16), named(anchors.length - fine, 1), named(anchors.length - fine, 16)];
  const minLogit = Math.log(minScore / (1 - minScore));
  const views = searchViews(image.width, image.height, search);
  const finest = Math.min(...views.map((v) => v.step));
  const candidates = [];
  for (const view of views) {
    const input = tf.tensor4d(viewInput(image, view), [1, DETECTOR_SIZE, DETECTOR_SIZE, 3]);
    const results = detector.execute(input, names);
    const [fineScores, fineBoxes, coarseScores, coarseBoxes] = await Promise.all(results.map((t) => t.data()));
    tf.dispose([input, ...results]);
    const side = view.step * DETECTOR_SIZE;
    const margin = view.step * 2;
    anchors.forEach(([ax, ay], a) => {
      const coarse = a - fine;
      const logit = a < fine ? fineScores[a] : coarseScores[coarse];
      if (logit < minLogit) return;
      const r = a < fine ? fineBoxes.subarray(a * 16, a * 16 + 16) : coarseBoxes.subarray(coarse * 16, coarse * 16 + 16);
      const at = (x, y) => [view.left + (ax + x) * view.step, view.top + (ay + y) * view.step];
      const [cx, cy] = at(r[0], r[1]);
      const [w, h] = [r[2] * view.step, r[3] * view.step];
      const box = { x: cx - w / 2, y: cy - h / 2, width: w, height: h };
      // a face cut by a tile edge inside the photo, or too small for a coarser view, is left to another view
      const cut = (box.x < view.left + margin && view.left > 0) || (box.y < view.top + margin && view.top > 0)
        || (box.x + w > view.left + side - margin && view.left + side < image.width) || (box.y + h > view.top + side - margin && view.top + side < image.height);
      if (cut || (view.step > finest && w / view.step < search.minFaceAtInput)) return;
      const landmarks = Array.from({ length: 6 }, (_, k) => at(r[4 + 2 * k], r[5 + 2 * k]));
      candidates.push({ box, landmarks, score: 1 / (1 + Math.exp(-logit)) });
    });
  }
  const kept = [];
  for (const face of candidates.sort((a, b) => b.score - a.score)) if (kept.every((k) => iou(k.box, face.box) <= iouThreshold)) kept.push(face);
  // a face narrower than minFaceFraction of the shorter side was found by chance (no view looks for it), as predict drops it
  const wide = kept.filter((f) => f.box.width >= search.minFaceFraction * Math.min(image.width, image.height));
  return wide.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height);
}

// ---- landmark network (pipeline.landmarks) ----

/** side x side grey (luma / 256) of the box, bilinear, edge pixels repeated past the photo. */
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

async function fivePoints(tf, pipeline, image, face) {
  const { input, fivePoints: reduce } = pipeline.spec.landmarks;
  const tensor = tf.tensor(greyCrop(image, face.box, input.shape[1]), input.shape);
  const result = pipeline.landmarks.execute(tensor);
  const xy = await result.data();
  tf.dispose([tensor, result]);
  const point = (i) => [face.box.x + xy[2 * i] * face.box.width, face.box.y + xy[2 * i + 1] * face.box.height];
  return reduce.from68.map((indices) => {
    const ps = indices.map(point);
    return [ps.reduce((s, p) => s + p[0], 0) / ps.length, ps.reduce((s, p) => s + p[1], 0) / ps.length];
  });
}

// ---- alignment (pipeline.alignment) ----

/** Least-squares similarity taking `from` onto `to` (Umeyama, 2-D): u = a x + b y + c, v = d x + e y + f. */
function similarity(from, to) {
  const mean = (ps) => [ps.reduce((s, p) => s + p[0], 0) / ps.length, ps.reduce((s, p) => s + p[1], 0) / ps.length];
  const [fx, fy] = mean(from);
  const [tx, ty] = mean(to);
  let [dot, cross, norm] = [0, 0, 0];
  from.forEach(([x0, y0], i) => {
    const [x, y, u, v] = [x0 - fx, y0 - fy, to[i][0] - tx, to[i][1] - ty];
    dot += x * u + y * v;
    cross += x * v - y * u;
    norm += x * x + y * y;
  });
  const [a, b] = [dot / norm, cross / norm];
  return { a, b: -b, c: tx - (a * fx - b * fy), d: b, e: a, f: ty - (b * fx + a * fy) };
}

/** The size x size crop, normalised, written at `offset` of `out`: bilinear, the nearest edge pixel outside the photo, rounded to 8 bits. */
function warpInto(image, m, size, { mean, std }, out, offset) {
  const det = m.a * m.e - m.b * m.d;
  const inv = { a: m.e / det, b: -m.b / det, d: -m.d / det, e: m.a / det };
  inv.c = -(inv.a * m.c + inv.b * m.f);
  inv.f = -(inv.d * m.c + inv.e * m.f);
  const { width, height, data } = image;
  const clamp = (v, hi) => (v < 0 ? 0 : v > hi ? hi : v);
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
        out[offset + (v * size + u) * 3 + ch] = (Math.round(top * (1 - fy) + bottom * fy) - mean) / std;
      }
    }
  }
}

// ---- the pipeline ----

/** Loads pipeline.json and the three graph models of a TF.js pipeline export at `modelUrl` (its model.json). */
export async function loadFacePipeline(tf, modelUrl) {
  const folder = new URL('.', new URL(modelUrl, location.href));
  const response = await fetch(new URL('pipeline.json', folder), { cache: 'no-store' });
  if (!response.ok) throw new Error(`the model's pipeline.json cannot be loaded (HTTP ${response.status})`);
  const spec = await response.json();
  if (spec.format !== 'facetrain-pipeline' || spec.version !== 1) throw new Error('the served model is not a facetrain pipeline export (version 1)');
  const load = (file) => tf.loadGraphModel(new URL(file, folder).href);
  const [recognizer, detector, landmarks] = await Promise.all([load(spec.recognizer.files.tfjs), load(spec.detector.files.tfjs), spec.landmarks ? load(spec.landmarks.files.tfjs) : undefined]);
  return {
    spec,
    recognizer,
    detector,
    landmarks,
    anchors: anchorsOf(spec.detector.anchors),
    dispose: () => [recognizer, detector, landmarks].forEach((m) => m?.dispose()),
  };
}

/** The eye-placement crop's scale, which picks the decode size as predict does. */
function eyeScale(face, size, eyePlacement) {
  const [left, right] = face.landmarks;
  return (eyePlacement.eyeDistance * size) / Math.hypot(right[0] - left[0], right[1] - left[1]);
}

/** Every face in the photo or video frame, largest first: box (in the source's pixels), label (`unknown` below the threshold), score, topK. */
export async function recognizeFaces(tf, pipeline, source) {
  const { spec } = pipeline;
  const { alignment, recognizer: recognizerSpec } = spec;
  const size = alignment.size;
  const { width, height } = sourceSize(source);
  const image = rgbOf(source, ...fitted(width, height, searchSide(width, height, spec.detector.search)));
  const scale = Math.max(width, height) / Math.max(image.width, image.height);
  const faces = await detect(tf, pipeline, image);
  if (faces.length === 0) return [];
  // a face smaller in the shrunk photo than in its crop is cut from a larger drawing of the source
  const enlargement = Math.max(1, ...faces.map((face) => eyeScale(face, size, alignment.eyePlacement)));
  let cropFrom = image;
  if (enlargement > 1.01 && scale > 1.01) cropFrom = rgbOf(source, ...fitted(width, height, Math.ceil(Math.max(image.width, image.height) * Math.min(enlargement, scale))));
  const cropScale = cropFrom.width / image.width;
  const input = new Float32Array(faces.length * size * size * 3);
  for (const [i, face] of faces.entries()) {
    const scaled = { box: { x: face.box.x * cropScale, y: face.box.y * cropScale, width: face.box.width * cropScale, height: face.box.height * cropScale }, landmarks: face.landmarks.map(([x, y]) => [x * cropScale, y * cropScale]) };
    const five = alignment.landmarkSource === 'landmarks' ? await fivePoints(tf, pipeline, cropFrom, scaled) : undefined;
    const points = alignment.points.map((p) => (five ? five[p.index] : scaled.landmarks[p.index]));
    warpInto(cropFrom, similarity(points, alignment.points.map((p) => p.to)), size, recognizerSpec.input, input, i * size * size * 3);
  }
  const batch = tf.tensor4d(input, [faces.length, size, size, 3]);
  const results = pipeline.recognizer.execute(batch, ['probabilities', 'score']);
  const [probabilities, score] = await Promise.all(results.map((t) => t.data()));
  tf.dispose([batch, ...results]);
  const people = spec.labels.length;
  return faces.map((face, i) => {
    const row = probabilities.subarray(i * people, (i + 1) * people);
    const topK = spec.labels.map((label, p) => ({ label, score: row[p] })).sort((a, b) => b.score - a.score).slice(0, 3);
    const box = { x: face.box.x * scale, y: face.box.y * scale, width: face.box.width * scale, height: face.box.height * scale };
    return { box, label: score[i] >= spec.threshold ? topK[0].label : spec.decision.unknownLabel, score: score[i], topK };
  });
}
