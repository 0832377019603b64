import type { Box, Point } from '../faces/geometry.js';
import type { RgbImage } from '../image/decode.js';
import type { StrangerSimilarity } from './dump-size.js';

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
 * is one new row in the BASES table: how faces are found, aligned (the base's own alignment) and
 * embedded, and the verification thresholds of that embedding the grouping rule is made of.
 */
export interface ClusterEmbedder {
  /** Names the base and its settings; cached embeddings made under another key are not reused. */
  readonly key: string;
  /** The base's name, for messages and clusters.json. */
  readonly base: string;
  /** Length of the embeddings (a gallery of another length cannot be searched with them). */
  readonly dims: number;
  /** Cosine similarity at which two faces are linked: the base's 0.1 % false-accept verify threshold. */
  readonly linkSimilarity: number;
  /** Cosine similarity at which a face of a small group joins a large one: the base's best-accuracy verify threshold. */
  readonly joinSimilarity: number;
  /** The base's different-person similarities, from which the thresholds rise for many faces (dump-size.ts); absent: fixed thresholds. */
  readonly strangerSimilarity?: StrangerSimilarity;
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
  /** Named by the model or gallery the command was given. */
  known: boolean;
  photos: string[];
  faces: number;
}
