import { BASE_ROWS, BASES } from '../base/index.js';
import type { EmbeddingBaseRow } from '../base/row.js';
import type { BaseName } from '../config.js';
import { DEFAULT_UNKNOWN_RULE, leaveOnePersonOutScores, strangerThreshold, type PersonGallery } from '../evaluate/unknown-rule.js';
import { FacetrainError } from '../errors.js';

/** The bases whose row is a face-embedding network (the ones `verify` and the unknown rule work with). */
export const EMBEDDING_BASES: readonly BaseName[] = Object.freeze(BASES.filter((name) => BASE_ROWS[name].kind === 'embedding'));

export function isEmbeddingBase(name: string): name is BaseName {
  return (EMBEDDING_BASES as readonly string[]).includes(name);
}

/** The row of an embedding base; a classifier base is a user error naming the choices. */
export function embeddingRow(name: BaseName): EmbeddingBaseRow {
  const row = BASE_ROWS[name];
  if (row.kind !== 'embedding') throw new FacetrainError('FT_ERR_UNSUPPORTED', `base ${name} does not embed faces; use ${EMBEDDING_BASES.join(' or ')}`);
  return row;
}

/** The unknown threshold of a model: simulated strangers (each known person left out in turn) at `targetFar`, not below the base's floor. */
export function unknownThreshold(galleries: PersonGallery[], row: EmbeddingBaseRow, targetFar: number): number {
  const usable = galleries.filter((g) => g.embeddings.length > 0);
  const simulated = usable.length >= 2 ? leaveOnePersonOutScores(usable, DEFAULT_UNKNOWN_RULE) : [];
  return Math.min(1, strangerThreshold(simulated, targetFar, row.unknownFloor));
}
