import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COARSE_TO_FINE_MIN_SIDE, DEFAULT_DETECTOR_CONFIG, searchSide, searchViews, smallestFace, tileViews, type View } from '../../src/faces/detect.js';

const config = DEFAULT_DETECTOR_CONFIG;

/** Views the detector runs on a `width` x `height` photo: the whole image and the tiles of its searched copy. */
function views(width: number, height: number, overrides: Partial<typeof config> = {}): number {
  const full = { ...config, ...overrides };
  const shrink = searchSide(width, height, full) / Math.max(width, height);
  return 1 + tileViews(Math.round(width * shrink), Math.round(height * shrink), full).length;
}

describe('the smallest face searched, and the size a photo is searched at', () => {
  test('photos up to 800 px (20 x 40) on the shorter side are searched whole, down to 40 px faces, as before the rule', () => {
    for (const [w, h] of [[250, 250], [640, 480], [1366, 768], [800, 800]] as const) {
      assert.equal(smallestFace(w, h, config), config.minFaceSize, `${w}x${h}`);
      assert.equal(searchSide(w, h, config), Math.max(w, h), `${w}x${h}`);
    }
  });

  test('larger photos are shrunk until the smallest face is minFaceSize pixels, so they cost what the shrunk copy costs', () => {
    for (const [w, h] of [[4032, 3024], [3024, 4032], [8064, 6048], [6000, 4000]] as const) {
      const side = searchSide(w, h, config);
      const shrink = side / Math.max(w, h);
      assert.ok(Math.abs(smallestFace(w, h, config) * shrink - config.minFaceSize) < 0.1, `${w}x${h} searched at ${side}`);
      // the searched copy is searched as it is: no second shrink
      assert.equal(searchSide(Math.round(w * shrink), Math.round(h * shrink), config), Math.max(Math.round(w * shrink), Math.round(h * shrink)));
    }
    assert.equal(views(8064, 6048), views(4032, 3024), '48 MP costs what 12 MP does');
    assert.equal(views(4032, 3024), views(1067, 800), '12 MP costs what its 1067x800 copy does');
    assert.ok(views(4032, 3024) < views(4032, 3024, { minFaceFraction: 0 }), 'the fraction spares views against the 1440 px cap alone');
  });

  test('minFaceFraction 0 looks for faces down to minFaceSize at maxSide (smaller faces, more views)', () => {
    const small = { minFaceFraction: 0 };
    assert.equal(searchSide(4032, 3024, { ...config, ...small }), config.maxSide);
    assert.equal(smallestFace(4032, 3024, { ...config, ...small }), config.minFaceSize);
  });

  test('coarse to fine: a 12 MP photo takes fewer than 15 views, and every face from the smallest searched up lies whole in a view that sees it reliably', () => {
    assert.ok(views(4032, 3024) < 15, `${views(4032, 3024)} views`);
    // a detection closer than 2 detector pixels to a tile edge inside the image is dropped as cut (detect.ts)
    const holds = (v: View, x: number, y: number, side: number, width: number, height: number): boolean => {
      const [right, bottom, margin] = [v.left + v.step * v.columns, v.top + v.step * v.rows, 2 * v.step];
      return !((x < v.left + margin && v.left > 0) || (y < v.top + margin && v.top > 0) || (x + side > right - margin && right < width) || (y + side > bottom - margin && bottom < height));
    };
    for (const [width, height] of [[1067, 800], [800, 1067], [1440, 800], [1200, 1200], [COARSE_TO_FINE_MIN_SIDE, COARSE_TO_FINE_MIN_SIDE]] as const) {
      const [whole, ...tiles] = searchViews(width, height, config, false);
      const wholeReliable = config.minFaceAtInput * whole!.step;
      for (let side = config.minFaceSize; side < wholeReliable; side *= 1.15) {
        // a box up to 1.25 x the face size (the slack the pyramid allows for)
        for (const box of [side, side * 1.25]) {
          for (let y = 0; y + box <= height; y += 9) {
            for (let x = 0; x + box <= width; x += 9) {
              assert.ok(tiles.some((v) => side / v.step >= config.minFaceAtInput && holds(v, x, y, box, width, height)), `${width}x${height}: a ${side.toFixed(0)} px face (box ${box.toFixed(0)}) at ${x},${y} is in no view that sees it`);
            }
          }
        }
      }
    }
  });
});
