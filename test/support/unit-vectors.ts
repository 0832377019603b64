import type { FaceTemplate } from '../../src/gallery/store.js';
import { createRandom } from '../../src/util/random.js';

/** `count` seeded 512-d unit vectors as one person's templates (photo hashes `<person>-<i>`): the same seed gives the same bytes. */
export function seededTemplates(person: string, seed: number, count: number): FaceTemplate[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, (_, i) => {
    const v = Float32Array.from({ length: 512 }, () => random() * 2 - 1);
    const norm = Math.hypot(...v);
    return { photoHash: `${person}-${i}`, file: `${person}-${i}.jpg`, embedding: v.map((x) => x / norm) };
  });
}
