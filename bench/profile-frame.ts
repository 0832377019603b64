import { performance } from 'node:perf_hooks';
import { loadFaceDetector, tileViews, wholeImageView } from '../src/faces/detect.js';
import { decodeImageScaled } from '../src/image/decode.js';
import { phonePhoto } from '../test/support/phone-photo.js';
import { celebrityPhotos } from '../test/support/tiny-model.js';
import { chooseRuntime } from '../src/runtime/choose.js';
import { BASE_ROWS } from '../src/base/index.js';
import { embedderOn } from '../src/recognize/onnx-engine.js';
import { alignFace } from '../src/faces/align.js';
import { alignToTemplate } from '../src/faces/template-align.js';

const t = async <T>(label: string, n: number, f: () => Promise<T>): Promise<T> => {
  let r!: T; const times: number[] = [];
  for (let i = 0; i < n; i++) { const s = performance.now(); r = await f(); times.push(performance.now() - s); }
  times.sort((a, b) => a - b);
  console.log(label, times[Math.floor(n / 2)]!.toFixed(2), 'ms (min', times[0]!.toFixed(2), ')');
  return r;
};
const runtime = await chooseRuntime(undefined);
const source = (await celebrityPhotos('madonna', 1, 'val'))[0]!;
const frame = new Uint8Array(await phonePhoto(source, { width: 640, height: 480, photoSide: 360 }));
const phone = new Uint8Array(await phonePhoto(source));
const det = await loadFaceDetector({}, runtime);
for (const [name, bytes] of [['frame', frame], ['phone', phone]] as const) {
  const { image } = await t(`${name} decode`, 9, () => decodeImageScaled(bytes, name, { maxSide: ({ width, height }) => det.searchSide(width, height) }));
  console.log(name, image.width, image.height, 'views', 1 + tileViews(image.width, image.height, det.config).length, wholeImageView(image.width, image.height, 0.25));
  const faces = await t(`${name} detect`, 5, () => det.detect(image));
  console.log(faces.map((f) => f.box));
}
const { image } = await decodeImageScaled(frame, 'f', { maxSide: 1440 });
const faces = await det.detect(image);
for (const base of ['faceres', 'mobilefacenet'] as const) {
  const row = BASE_ROWS[base];
  if (row.kind !== 'embedding') continue;
  const emb = await embedderOn(runtime, await row.loadEmbedder(runtime));
  const crop = await t(`${base} align`, 9, async () => base === "faceres" ? alignFace(image, faces[0]!, emb.inputSize) : alignToTemplate(image, faces[0]!, emb.inputSize));
  await t(`${base} embed 1`, 9, () => emb.embed([crop]));
  await t(`${base} embed 8 (per 8)`, 5, () => emb.embed(Array(8).fill(crop)));
}
