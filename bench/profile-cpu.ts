import { performance } from 'node:perf_hooks';
import { loadFaceDetector } from '../src/faces/detect.js';
import { decodeImageScaled } from '../src/image/decode.js';
import { phonePhoto } from '../test/support/phone-photo.js';
import { celebrityPhotos } from '../test/support/tiny-model.js';
import { chooseRuntime } from '../src/runtime/choose.js';
import { setOnnxThreadsPerSession } from '../src/runtime/onnxruntime.js';
setOnnxThreadsPerSession(Number(process.env.THREADS ?? 2));
const runtime = await chooseRuntime(undefined);
const source = (await celebrityPhotos('madonna', 1, 'val'))[0]!;
const frame = new Uint8Array(await phonePhoto(source, { width: 640, height: 480, photoSide: 360 }));
const det = await loadFaceDetector({}, runtime);
const { image } = await decodeImageScaled(frame, 'f');
const big = await decodeImageScaled(new Uint8Array(await phonePhoto(source)), 'f', { maxSide: ({ width, height }) => det.searchSide(width, height) });
for (const [name, img] of [['frame', image], ['phone', big.image]] as const) {
  await det.detect(img);
  const c = process.cpuUsage(); const s = performance.now();
  for (let i = 0; i < 5; i++) await det.detect(img);
  const u = process.cpuUsage(c);
  console.log(name, 'wall', ((performance.now() - s) / 5).toFixed(1), 'cpu', ((u.user + u.system) / 5000).toFixed(1));
}
det.dispose();
