import { createHash } from 'node:crypto';

/** Hex SHA-256 of a file's bytes: photo identity in galleries and caches, weight-file checksums. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
