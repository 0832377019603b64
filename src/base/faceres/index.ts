import type { EmbeddingBaseRow } from '../row.js';
import { loadFaceRes } from './faceres.js';

/** FaceRes from @vladmandic/human: 1024-value face embeddings, frozen, with a Dense head. */
export const FACERES_BASE: EmbeddingBaseRow = Object.freeze<EmbeddingBaseRow>({
  kind: 'embedding',
  // FaceRes takes raw 0..255 pixels
  normalisation: { mean: 0, std: 1 },
  manifestEntry: () => ({ name: 'faceres' }),
  describe: () => 'faceres',
  loadEmbedder: () => loadFaceRes(),
  verifyThreshold: 0.524,
  strictVerifyThreshold: 0.641,
  // its LFW best-accuracy threshold, as for verify: the 0.1 % false-accept one (0.641) turned away
  // 1 of the 15 known faces of the open-set test (score 0.583; its strangers scored at most 0.494)
  unknownFloor: 0.524,
  // the shared gallery queries (measured 0.577): own person's nearest under it for 8 %, another person's above for 6 %
  galleryThreshold: 0.58,
});
