import type { ArchiveFace, ArchiveHit, ArchiveIndex, ArchivePhoto, ArchiveProgress, EnrollCount, FaceTemplate, GalleryStore, Neighbour, PersonSummary } from './store.js';
import { FacetrainError } from '../errors.js';

/** What the SQL gallery needs from a PostgreSQL connection: node-postgres and PGlite both give it. */
export interface SqlSession {
  query<Row>(text: string, params?: unknown[]): Promise<{ rows: Row[] }>;
  /**
   * Runs `COPY <target> FROM '/dev/blob' WITH (FORMAT binary)` on `data`, where the client can
   * (PGlite): its WebAssembly parses a 512-value vector's text about 40 times slower than it copies
   * the binary form (measured in bench/gallery.ts).
   */
  copyBinary?(target: string, data: Uint8Array<ArrayBuffer>): Promise<void>;
}

export interface SqlClient extends SqlSession {
  /** Runs `work` in one transaction on one connection: committed if it returns, rolled back if it throws. */
  transaction<T>(work: (tx: SqlSession) => Promise<T>): Promise<T>;
  end(): Promise<void>;
}

const SCHEMA_VERSION = '1';
/** Candidates the HNSW graph walk keeps (pgvector's default is 40): recall@1 >= 0.99 at 10^6 in the bench. */
export const HNSW_EF_SEARCH = 100;
/** Rows per INSERT: one round trip per batch, well under PostgreSQL's 65535 parameters. */
const INSERT_BATCH = 500;
/** Any fixed number: serialises concurrent first-use migrations of one database. */
const MIGRATION_LOCK = 7_316_016;

/** pgvector's text form of a vector. */
export function vectorLiteral(v: Float32Array): string {
  return `[${Array.from(v).join(',')}]`;
}

async function migrate(db: SqlClient, dims: number, location: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    try {
      await tx.query('CREATE EXTENSION IF NOT EXISTS vector');
    } catch (err) {
      throw new FacetrainError('FT_ERR_UNSUPPORTED', `${location}: the pgvector extension is not available (${(err as Error).message}); install pgvector on the server (see README, Galleries)`, { cause: err });
    }
    await tx.query('CREATE TABLE IF NOT EXISTS facetrain_gallery_meta (key text PRIMARY KEY, value text NOT NULL)');
    const meta = new Map((await tx.query<{ key: string; value: string }>('SELECT key, value FROM facetrain_gallery_meta')).rows.map((r) => [r.key, r.value]));
    if (meta.has('dims')) {
      if (meta.get('dims') !== String(dims)) {
        throw new FacetrainError('FT_ERR_MODEL', `${location}: this gallery holds ${meta.get('dims')}-value embeddings but the model makes ${dims}; use a gallery made with the same base`);
      }
      return;
    }
    await tx.query(`CREATE TABLE facetrain_people (name text PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now())`);
    await tx.query(`CREATE TABLE facetrain_templates (
      person text NOT NULL REFERENCES facetrain_people (name) ON DELETE CASCADE,
      photo_hash text NOT NULL, file text NOT NULL, embedding vector(${dims}) NOT NULL,
      PRIMARY KEY (person, photo_hash))`);
    await tx.query('CREATE INDEX facetrain_templates_embedding ON facetrain_templates USING hnsw (embedding vector_ip_ops)');
    await tx.query(`CREATE TABLE facetrain_archive_photos (
      photo_hash text PRIMARY KEY, file text NOT NULL, faces integer, indexed_by text, indexed_at timestamptz)`);
    await tx.query('CREATE INDEX facetrain_archive_pending ON facetrain_archive_photos (file) WHERE indexed_at IS NULL');
    await tx.query(`CREATE TABLE facetrain_archive_faces (
      photo_hash text NOT NULL REFERENCES facetrain_archive_photos (photo_hash) ON DELETE CASCADE,
      face integer NOT NULL, box jsonb NOT NULL, embedding vector(${dims}) NOT NULL,
      PRIMARY KEY (photo_hash, face))`);
    await tx.query('CREATE INDEX facetrain_archive_embedding ON facetrain_archive_faces USING hnsw (embedding vector_ip_ops)');
    await tx.query(`INSERT INTO facetrain_gallery_meta (key, value) VALUES ('schema', $1), ('dims', $2)`, [SCHEMA_VERSION, String(dims)]);
  });
}

function checkDims(embedding: Float32Array, dims: number, location: string): void {
  if (embedding.length !== dims) throw new FacetrainError('FT_ERR_MODEL', `${location}: an embedding of ${embedding.length} values was given to a gallery of ${dims}; use a gallery made with the same base`);
}

/** `INSERT ... VALUES (...), (...)` of `rows`, `width` parameters each, in batches. */
async function insertRows(tx: SqlSession, head: string, tail: string, rows: unknown[][], cast: string[]): Promise<number> {
  let inserted = 0;
  for (let start = 0; start < rows.length; start += INSERT_BATCH) {
    const batch = rows.slice(start, start + INSERT_BATCH);
    const values = batch.map((_, r) => `(${cast.map((c, i) => `$${r * cast.length + i + 1}${c}`).join(', ')})`).join(', ');
    inserted += (await tx.query(`${head} VALUES ${values} ${tail}`, batch.flat())).rows.length;
  }
  return inserted;
}

/** PostgreSQL's binary COPY stream of rows of text and vector columns (pgvector's binary vector: int16 length, int16 0, float4s). */
export function binaryCopyStream(rows: (string | Float32Array)[][]): Uint8Array<ArrayBuffer> {
  const encoded = rows.map((row) => row.map((value) => (typeof value === 'string' ? Buffer.from(value, 'utf8') : value)));
  let size = 11 + 4 + 4 + 2;
  for (const row of encoded) for (const value of row) size += 4 + (value instanceof Float32Array ? 4 + value.length * 4 : value.length);
  size += encoded.length * 2;
  const out = Buffer.alloc(size);
  out.write('PGCOPY\n\xff\r\n\0', 0, 'latin1');
  let at = 19;
  for (const row of encoded) {
    at = out.writeInt16BE(row.length, at);
    for (const value of row) {
      if (value instanceof Float32Array) {
        at = out.writeInt32BE(4 + value.length * 4, at);
        at = out.writeInt16BE(value.length, at);
        at = out.writeInt16BE(0, at);
        for (const x of value) at = out.writeFloatBE(x, at);
      } else {
        at = out.writeInt32BE(value.length, at);
        at += value.copy(out, at);
      }
    }
  }
  out.writeInt16BE(-1, at);
  return out;
}

/** Adds template rows, skipping (person, photo) pairs already there; returns how many were added. */
async function insertTemplates(tx: SqlSession, person: string, templates: FaceTemplate[]): Promise<number> {
  if (!tx.copyBinary) {
    const rows = templates.map((t) => [person, t.photoHash, t.file, vectorLiteral(t.embedding)]);
    return insertRows(tx, 'INSERT INTO facetrain_templates (person, photo_hash, file, embedding)', 'ON CONFLICT DO NOTHING RETURNING 1', rows, ['', '', '', '::vector']);
  }
  // staged by binary COPY, then moved in one statement that skips photos the person already has
  await tx.query('CREATE TEMP TABLE facetrain_staged_templates (LIKE facetrain_templates) ON COMMIT DROP');
  await tx.copyBinary('facetrain_staged_templates (person, photo_hash, file, embedding)', binaryCopyStream(templates.map((t) => [person, t.photoHash, t.file, t.embedding])));
  const { rows } = await tx.query<{ added: number }>(
    'WITH added AS (INSERT INTO facetrain_templates SELECT * FROM facetrain_staged_templates ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*)::int AS added FROM added',
  );
  return rows[0]!.added;
}

/** A gallery in PostgreSQL with pgvector, reached through node-postgres or embedded PGlite. */
export class SqlGalleryStore implements GalleryStore, ArchiveIndex {
  private constructor(
    private readonly db: SqlClient,
    readonly location: string,
    readonly dims: number,
  ) {}

  /** Opens the gallery, creating its tables (migration) on first use. */
  static async open(db: SqlClient, location: string, dims: number): Promise<SqlGalleryStore> {
    try {
      await migrate(db, dims, location);
    } catch (err) {
      await db.end();
      throw err;
    }
    return new SqlGalleryStore(db, location, dims);
  }

  async enroll(person: string, templates: FaceTemplate[]): Promise<EnrollCount> {
    templates.forEach((t) => checkDims(t.embedding, this.dims, this.location));
    const added = await this.db.transaction(async (tx) => {
      await tx.query('INSERT INTO facetrain_people (name) VALUES ($1) ON CONFLICT DO NOTHING', [person]);
      return insertTemplates(tx, person, templates);
    });
    return { added, alreadyKnown: templates.length - added };
  }

  async forget(person: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      // the cascade deletes the templates in the same transaction
      const { rows } = await tx.query('DELETE FROM facetrain_people WHERE name = $1 RETURNING name', [person]);
      return rows.length > 0;
    });
  }

  async people(): Promise<PersonSummary[]> {
    const { rows } = await this.db.query<PersonSummary>(
      'SELECT p.name, count(t.photo_hash)::int AS templates FROM facetrain_people p LEFT JOIN facetrain_templates t ON t.person = p.name GROUP BY p.name ORDER BY p.name',
    );
    return rows;
  }

  async count(): Promise<{ people: number; templates: number }> {
    const { rows } = await this.db.query<{ people: number; templates: number }>(
      'SELECT (SELECT count(*)::int FROM facetrain_people) AS people, (SELECT count(*)::int FROM facetrain_templates) AS templates',
    );
    return rows[0]!;
  }

  async nearest(embedding: Float32Array, k: number): Promise<Neighbour[]> {
    checkDims(embedding, this.dims, this.location);
    // <#> is the negative inner product: the cosine of unit vectors, negated
    const { rows } = await this.db.query<{ person: string; file: string; photo_hash: string; similarity: number }>(
      'SELECT person, file, photo_hash, -(embedding <#> $1::vector) AS similarity FROM facetrain_templates ORDER BY embedding <#> $1::vector LIMIT $2',
      [vectorLiteral(embedding), Math.min(k, HNSW_EF_SEARCH)],
    );
    return rows.map((r) => ({ person: r.person, file: r.file, photoHash: r.photo_hash, similarity: r.similarity }));
  }

  async queue(photos: ArchivePhoto[]): Promise<number> {
    return this.db.transaction((tx) =>
      insertRows(tx, 'INSERT INTO facetrain_archive_photos (photo_hash, file)', 'ON CONFLICT DO NOTHING RETURNING 1', photos.map((p) => [p.photoHash, p.file]), ['', '']),
    );
  }

  async indexNext(worker: string, work: (photo: ArchivePhoto) => Promise<ArchiveFace[]>): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ photo_hash: string; file: string }>(
        'SELECT photo_hash, file FROM facetrain_archive_photos WHERE indexed_at IS NULL ORDER BY file LIMIT 1 FOR UPDATE SKIP LOCKED',
      );
      const row = rows[0];
      if (!row) return false;
      const faces = await work({ photoHash: row.photo_hash, file: row.file });
      faces.forEach((f) => checkDims(f.embedding, this.dims, this.location));
      const faceRows = faces.map((f, i) => [row.photo_hash, i, JSON.stringify(f.box), vectorLiteral(f.embedding)]);
      await insertRows(tx, 'INSERT INTO facetrain_archive_faces (photo_hash, face, box, embedding)', 'ON CONFLICT DO NOTHING RETURNING 1', faceRows, ['', '', '::jsonb', '::vector']);
      await tx.query('UPDATE facetrain_archive_photos SET faces = $2, indexed_by = $3, indexed_at = now() WHERE photo_hash = $1', [row.photo_hash, faces.length, worker]);
      return true;
    });
  }

  async progress(): Promise<ArchiveProgress> {
    const { rows } = await this.db.query<ArchiveProgress>(
      'SELECT count(*)::int AS photos, count(indexed_at)::int AS indexed, coalesce(sum(faces), 0)::int AS faces FROM facetrain_archive_photos',
    );
    return rows[0]!;
  }

  async searchArchive(embedding: Float32Array, minSimilarity: number, limit: number): Promise<ArchiveHit[]> {
    checkDims(embedding, this.dims, this.location);
    const { rows } = await this.db.query<{ file: string; photo_hash: string; similarity: number }>(
      `SELECT p.file, f.photo_hash, max(f.similarity) AS similarity
         FROM (SELECT photo_hash, -(embedding <#> $1::vector) AS similarity FROM facetrain_archive_faces ORDER BY embedding <#> $1::vector LIMIT $3) f
         JOIN facetrain_archive_photos p USING (photo_hash)
        WHERE f.similarity >= $2 GROUP BY p.file, f.photo_hash ORDER BY similarity DESC, p.file`,
      [vectorLiteral(embedding), minSimilarity, Math.min(limit, HNSW_EF_SEARCH)],
    );
    return rows.map((r) => ({ file: r.file, photoHash: r.photo_hash, similarity: r.similarity }));
  }

  close(): Promise<void> {
    return this.db.end();
  }
}
