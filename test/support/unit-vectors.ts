import type { FaceTemplate } from '../../src/gallery/store.js';
import { createRandom } from '../../src/util/random.js';

/** `count` seeded unit vectors (512 values unless `dims` says) as one person's templates (photo hashes `<person>-<i>`): the same seed gives the same bytes. */
export function seededTemplates(person: string, seed: number, count: number, dims = 512): FaceTemplate[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, (_, i) => {
    const v = Float32Array.from({ length: dims }, () => random() * 2 - 1);
    const norm = Math.hypot(...v);
    return { photoHash: `${person}-${i}`, file: `${person}-${i}.jpg`, embedding: v.map((x) => x / norm) };
  });
}
