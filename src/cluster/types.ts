import type { Box, Point } from '../faces/geometry.js';
import type { RgbImage } from '../image/decode.js';

/** One face found in a photo: where it is, its embedding and a small JPEG for the contact sheet. */
export interface EmbeddedFace {
  box: Box;
  landmarks: Point[];
  /** Unit-length vector: the cosine of two faces is their dot product. */
  embedding: Float32Array;
  /** JPEG of the aligned face, THUMBNAIL_SIZE pixels square. */
  thumbnail: Uint8Array;
}

/**
 * Everything clustering needs from the face-embedding base, in one place so that a new default base
 * is one new row in the BASES table: how faces are found and embedded, and the similarity above
 * which two faces are taken for the same person (the row's `samePersonSimilarity`).
 */
export interface ClusterEmbedder {
  /** Names the base and its settings; cached embeddings made under another key are not reused. */
  readonly key: string;
  /** Cosine similarity at or above which two faces (or two groups, on average) are one person. */
  readonly sameThreshold: number;
  /** Every face in the photo, largest first. */
  embedFaces(image: RgbImage): Promise<EmbeddedFace[]>;
  dispose(): void;
}

export const THUMBNAIL_SIZE = 96;

/** One face and where it ended up. */
export interface ClusteredFace {
  /** Path of the photo relative to the photos folder, with '/' separators. */
  photo: string;
  /** Rank of the face in its photo, largest first. */
  face: number;
  box: Box;
  /** Folder it went to: a known person's name, person-NN, or unsorted. */
  group: string;
}

export interface ClusterGroup {
  name: string;
  /** Named by the model given with --model. */
  known: boolean;
  photos: string[];
  faces: number;
}
