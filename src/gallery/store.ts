/**
 * A gallery: the people a recognizer knows, kept as face templates (one unit-length embedding per
 * enrolled photo) and searched by nearest neighbour, so enrolling or forgetting someone costs the
 * photos added and nothing else. Embeddings are personal data: stores never log them.
 */
export interface FaceTemplate {
  /** SHA-256 of the photo's bytes: the same photo sent twice is recorded once. */
  photoHash: string;
  /** The photo's file name, for answers; never its pixels. */
  file: string;
  embedding: Float32Array;
}

export interface Neighbour {
  person: string;
  file: string;
  photoHash: string;
  /** Cosine similarity of unit vectors (their dot product), in [-1, 1]. */
  similarity: number;
}

export interface PersonSummary {
  name: string;
  templates: number;
}

export interface EnrollCount {
  added: number;
  /** Templates whose photo the person already had (sending a photo again changes nothing). */
  alreadyKnown: number;
}

export interface GalleryStore {
  /** The URL it was opened with, password removed: safe to print. */
  readonly location: string;
  readonly dims: number;
  /** Adds templates of one person (created if new) in one transaction. */
  enroll(person: string, templates: FaceTemplate[]): Promise<EnrollCount>;
  /** Deletes the person and every template of theirs in one transaction; false when there was no such person. */
  forget(person: string): Promise<boolean>;
  people(): Promise<PersonSummary[]>;
  count(): Promise<{ people: number; templates: number }>;
  /** The k templates most similar to `embedding`, best first (approximate for indexed stores). */
  nearest(embedding: Float32Array, k: number): Promise<Neighbour[]>;
  close(): Promise<void>;
}

/** One photo of an archive being indexed: recorded once by content hash. */
export interface ArchivePhoto {
  photoHash: string;
  file: string;
}

export interface ArchiveFace {
  embedding: Float32Array;
  box: { x: number; y: number; width: number; height: number };
}

export interface ArchiveHit {
  file: string;
  photoHash: string;
  similarity: number;
}

export interface ArchiveProgress {
  photos: number;
  indexed: number;
  faces: number;
}

/**
 * The archive side of a database gallery (`facetrain index` / `search`): a job table shared by any
 * number of workers, each photo handed to one worker at a time and recorded with its faces once.
 */
export interface ArchiveIndex {
  /** Queues photos not seen before (by content hash); returns how many were new. */
  queue(photos: ArchivePhoto[]): Promise<number>;
  /**
   * Takes one pending photo no other worker holds, runs `work` on it and records its faces and
   * its completion in the same transaction; a worker that dies mid-photo releases it (the
   * transaction rolls back). Returns false when nothing is left.
   */
  indexNext(worker: string, work: (photo: ArchivePhoto) => Promise<ArchiveFace[]>): Promise<boolean>;
  progress(): Promise<ArchiveProgress>;
  /** Photos with a face at least `minSimilarity` close to `embedding`, best first. */
  searchArchive(embedding: Float32Array, minSimilarity: number, limit: number): Promise<ArchiveHit[]>;
}
