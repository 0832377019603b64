import { decodeImageScaled, decodeRegion } from '../src/image/decode.js';
import { phonePhoto } from '../test/support/phone-photo.js';
import { celebrityPhotos } from '../test/support/tiny-model.js';
import { loadFaceDetector } from '../src/faces/detect.js';
const source = (await celebrityPhotos('madonna', 1, 'val'))[0]!;
const phone = new Uint8Array(await phonePhoto(source));
for (const side of [1600, 2016, 4032]) {
  const whole = (await decodeImageScaled(phone, 'p', { maxSide: side })).image;
  const region = { left: 500, top: 900, width: 300, height: 200 };
  const part = await decodeRegion(phone, 'p', { width: whole.width, height: whole.height }, region);
  let maxDiff = 0;
  for (let y = 0; y < region.height; y++) for (let x = 0; x < region.width * 3; x++) maxDiff = Math.max(maxDiff, Math.abs(part.data[y * region.width * 3 + x]! - whole.data[(y + region.top) * whole.width * 3 + region.left * 3 + x]!));
  console.log(side, whole.width, whole.height, part.width, part.height, 'maxDiff', maxDiff);
}
const det = await loadFaceDetector();
const s = await decodeImageScaled(phone, 'p', { maxSide: ({ width, height }) => det.searchSide(width, height) });
console.log('search', s.image.width, s.image.height, s.scale, (await det.detect(s.image)).map((f) => f.box));
det.dispose();
