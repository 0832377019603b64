import type { ArchivePhoto, ArchiveProgress } from './store.js';
import { insertRows, type SqlClient, type SqlSession } from './sql-session.js';

/**
 * The archive's job queue (`facetrain index`): `facetrain_archive_photos`, one row per photo by
 * content hash, pending while `indexed_at` is null. It needs no vector type, so the tests run it
 * on Debian's PostgreSQL with real concurrent backends as well as on PGlite.
 */

/** Queues photos not seen before (by content hash); how many were new. */
export async function queuePhotos(db: SqlClient, photos: ArchivePhoto[]): Promise<number> {
  return db.transaction(async (tx) => (await insertRows(tx, 'INSERT INTO facetrain_archive_photos (photo_hash, file)', 'ON CONFLICT DO NOTHING RETURNING 1', photos.map((p) => [p.photoHash, p.file]), ['', ''])).length);
}

/**
 * Takes one pending photo that no other transaction holds (the row lock of `FOR UPDATE SKIP
 * LOCKED`: a photo another worker is on is passed over, not waited for), runs `record` on it in the
 * same transaction (which writes its faces and returns how many) and marks it done; a worker that
 * dies mid-photo rolls back and so releases it. False when nothing is pending.
 */
export async function takePhoto(db: SqlClient, worker: string, record: (tx: SqlSession, photo: ArchivePhoto) => Promise<number>): Promise<boolean> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ photo_hash: string; file: string }>(
      'SELECT photo_hash, file FROM facetrain_archive_photos WHERE indexed_at IS NULL ORDER BY file LIMIT 1 FOR UPDATE SKIP LOCKED',
    );
    const row = rows[0];
    if (!row) return false;
    const faces = await record(tx, { photoHash: row.photo_hash, file: row.file });
    await tx.query('UPDATE facetrain_archive_photos SET faces = $2, indexed_by = $3, indexed_at = now() WHERE photo_hash = $1', [row.photo_hash, faces, worker]);
    return true;
  });
}

export async function queueProgress(db: SqlClient): Promise<ArchiveProgress> {
  const { rows } = await db.query<ArchiveProgress>(
    'SELECT count(*)::int AS photos, count(indexed_at)::int AS indexed, coalesce(sum(faces), 0)::int AS faces FROM facetrain_archive_photos',
  );
  return rows[0]!;
}
