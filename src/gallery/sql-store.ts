import type { ArchiveFace, ArchiveHit, ArchiveIndex, ArchivePhoto, ArchiveProgress, EnrollCount, FaceTemplate, GalleryStore, Neighbour, PersonSummary } from './store.js';
import { FacetrainError } from '../errors.js';
import { queuePhotos, queueProgress, takePhoto } from './archive-queue.js';
import { insertRows, type SqlClient, type SqlSession } from './sql-session.js';
import { migrate } from './sql-schema.js';
import { TemplateIndex, type TemplateBatches } from './template-index.js';

/** Rows per batch when the embedded store's search index is rebuilt from the table. */
const REBUILD_BATCH = 20_000;
/**
 * Candidates the HNSW graph walk keeps (pgvector's default is 40, its maximum 1000). On 512-d
 * uniform vectors (the worst case) at 10^5, 40 found 0.455 of the exact nearest templates, 100
 * 0.73, 400 0.95, 1000 all of them (README "Galleries").
 */
export const HNSW_EF_SEARCH = 1000;

/** pgvector's text form of a vector. */
export function vectorLiteral(v: Float32Array): string {
  return `[${Array.from(v).join(',')}]`;
}

/** Bumps the gallery's generation in an enrol or forget transaction (embedded store only: one process writes it). */
async function nextGeneration(tx: SqlSession): Promise<bigint> {
  const { rows } = await tx.query<{ value: string }>(`UPDATE facetrain_gallery_meta SET value = (value::bigint + 1)::text WHERE key = 'templates_generation' RETURNING value`);
  return BigInt(rows[0]!.value);
}

/** Rows of `COPY (SELECT id, embedding ...) TO ... WITH (FORMAT binary)`: an int8 and a pgvector vector each. */
export function parseIdVectorCopy(data: Uint8Array, dims: number): { ids: BigUint64Array; vectors: Float32Array } {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  // signature (11), flags (4), header extension length (4) and the extension itself; a -1 ends the rows
  const start = 19 + view.getInt32(15);
  // field count (2), id length (4) and id (8), vector length (4), its dims and unused (2 + 2), floats
  const rowBytes = 2 + 4 + 8 + 4 + 4 + 4 * dims;
  const count = (data.byteLength - start - 2) / rowBytes;
  const ids = new BigUint64Array(count);
  const vectors = new Float32Array(count * dims);
  for (let r = 0, at = start; r < count; r++) {
    ids[r] = view.getBigUint64(at + 6);
    at += 2 + 4 + 8 + 4 + 4;
    for (let d = 0; d < dims; d++, at += 4) vectors[r * dims + d] = view.getFloat32(at);
  }
  return { ids, vectors };
}

function checkDims(embedding: Float32Array, dims: number, location: string): void {
  if (embedding.length !== dims) throw new FacetrainError('FT_ERR_MODEL', `${location}: an embedding of ${embedding.length} values was given to a gallery of ${dims}; use a gallery made with the same base`);
}

/** Writes pgvector's binary form of `v` (int16 length, int16 0, float4s, big-endian) into `out` at `at`; the offset after it. */
function writeVectorBinary(out: Buffer, v: Float32Array, at: number): number {
  at = out.writeInt16BE(v.length, at);
  at = out.writeInt16BE(0, at);
  for (const x of v) at = out.writeFloatBE(x, at);
  return at;
}

/** pgvector's binary form of `v`: node-postgres sends a Buffer parameter in binary, so the server reads it with no text to parse. */
export function vectorBinary(v: Float32Array): Buffer {
  const out = Buffer.alloc(4 + v.length * 4);
  writeVectorBinary(out, v, 0);
  return out;
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
        at = writeVectorBinary(out, value, at);
      } else {
        at = out.writeInt32BE(value.length, at);
        at += value.copy(out, at);
      }
    }
  }
  out.writeInt16BE(-1, at);
  return out;
}

/** Adds template rows, skipping (person, photo) pairs already there; returns the rows added. */
async function insertTemplates(tx: SqlSession, person: string, templates: FaceTemplate[], dims: number): Promise<{ id: string; photo_hash: string }[]> {
  if (!tx.copyBinary) {
    const rows = templates.map((t) => [person, t.photoHash, t.file, vectorLiteral(t.embedding)]);
    return insertRows(tx, 'INSERT INTO facetrain_templates (person, photo_hash, file, embedding)', 'ON CONFLICT DO NOTHING RETURNING id, photo_hash', rows, ['', '', '', '::vector']);
  }
  // staged by binary COPY, then moved in one statement that skips photos the person already has
  await tx.query(`CREATE TEMP TABLE facetrain_staged_templates (person text, photo_hash text, file text, embedding vector(${dims})) ON COMMIT DROP`);
  await tx.copyBinary('facetrain_staged_templates (person, photo_hash, file, embedding)', binaryCopyStream(templates.map((t) => [person, t.photoHash, t.file, t.embedding])));
  const { rows } = await tx.query<{ id: string; photo_hash: string }>(
    'INSERT INTO facetrain_templates (person, photo_hash, file, embedding) SELECT person, photo_hash, file, embedding FROM facetrain_staged_templates ON CONFLICT DO NOTHING RETURNING id, photo_hash',
  );
  return rows;
}

/** The rows `INSERT ... RETURNING id, photo_hash` gave, with their templates, in the search index's form. */
function addedTemplates(added: { id: string; photo_hash: string }[], templates: FaceTemplate[], dims: number): { ids: BigUint64Array; vectors: Float32Array; inserted: FaceTemplate[] } {
  // the first template of a photo hash is the one inserted (later ones in the same batch conflict with it)
  const byHash = new Map<string, FaceTemplate>();
  for (const t of templates) if (!byHash.has(t.photoHash)) byHash.set(t.photoHash, t);
  const inserted = added.map((row) => byHash.get(row.photo_hash)!);
  const vectors = new Float32Array(added.length * dims);
  inserted.forEach((t, i) => vectors.set(t.embedding, i * dims));
  return { ids: BigUint64Array.from(added, (row) => BigInt(row.id)), vectors, inserted };
}

export interface SqlStoreOptions {
  /**
   * A folder for the search index outside the database (embedded PGlite): the templates are
   * then found by usearch (`template-index.ts`), whose float32 vectors are the true ones, with
   * their labels in memory. Without it, pgvector's HNSW index searches them (PostgreSQL).
   */
  indexDir?: string;
  /** Up to this many templates the search index scans exactly and builds no graph (default EXACT_SEARCH_UP_TO; 0 always walks the graph, as the tests do). */
  exactSearchUpTo?: number;
  /**
   * After a forget, rewrite the templates table and retire the WAL written so far (embedded
   * PGlite, whose files are the gallery's): PostgreSQL's DELETE leaves the row's bytes in the
   * table file until it is rewritten, and in the WAL segment until that is removed.
   * test/gallery-index.test.ts searches every file of the gallery for them.
   */
  scrubFiles?: boolean;
}

/** What a search answer says of a template besides its similarity: kept in memory beside the search index. */
type TemplateLabel = Pick<Neighbour, 'person' | 'file' | 'photoHash'>;

/** Every template's label by row id, read in batches (one query per batch, no vectors). */
async function templateLabels(db: SqlClient): Promise<Map<bigint, TemplateLabel>> {
  const labels = new Map<bigint, TemplateLabel>();
  for (let after = '-1'; ; ) {
    const { rows } = await db.query<{ id: string; person: string; file: string; photo_hash: string }>('SELECT id, person, file, photo_hash FROM facetrain_templates WHERE id > $1 ORDER BY id LIMIT $2', [after, REBUILD_BATCH]);
    for (const r of rows) labels.set(BigInt(r.id), { person: r.person, file: r.file, photoHash: r.photo_hash });
    if (rows.length < REBUILD_BATCH) return labels;
    after = rows.at(-1)!.id;
  }
}

/** Every template's id and vector, in batches by id, by binary COPY (the text form would be parsed in WebAssembly). */
function templateBatches(db: SqlClient, dims: number): TemplateBatches {
  return async function* () {
    let after = -1n;
    for (;;) {
      // COPY takes no parameters: `after` is a bigint this loop made
      const batch = parseIdVectorCopy(await db.copyOut!(`SELECT id, embedding FROM facetrain_templates WHERE id > ${after} ORDER BY id LIMIT ${REBUILD_BATCH}`), dims);
      if (batch.ids.length === 0) return;
      yield batch;
      after = batch.ids[batch.ids.length - 1]!;
    }
  };
}

/** A gallery in PostgreSQL with pgvector, reached through node-postgres or embedded PGlite. */
export class SqlGalleryStore implements GalleryStore, ArchiveIndex {
  private constructor(
    private readonly db: SqlClient,
    readonly location: string,
    readonly dims: number,
    private readonly templateIndex?: TemplateIndex,
    private readonly labels = new Map<bigint, TemplateLabel>(),
    private readonly scrubFiles = false,
  ) {}

  /** Opens the gallery, creating its tables (migration) on first use, and its search index when it has one. */
  static async open(db: SqlClient, location: string, dims: number, options: SqlStoreOptions = {}): Promise<SqlGalleryStore> {
    try {
      await migrate(db, dims, location, options.indexDir ? 'external' : 'pgvector');
      if (!options.indexDir) return new SqlGalleryStore(db, location, dims);
      const { rows } = await db.query<{ generation: string; templates: number }>(
        `SELECT (SELECT value FROM facetrain_gallery_meta WHERE key = 'templates_generation') AS generation, (SELECT count(*)::int FROM facetrain_templates) AS templates`,
      );
      const state = { generation: BigInt(rows[0]!.generation), templates: rows[0]!.templates };
      const index = await TemplateIndex.open(options.indexDir, dims, state, templateBatches(db, dims), options.exactSearchUpTo);
      try {
        return new SqlGalleryStore(db, location, dims, index, await templateLabels(db), options.scrubFiles);
      } catch (err) {
        await index.close();
        throw err;
      }
    } catch (err) {
      await db.end();
      throw err;
    }
  }

  async enroll(person: string, templates: FaceTemplate[]): Promise<EnrollCount> {
    templates.forEach((t) => checkDims(t.embedding, this.dims, this.location));
    const { added, generation } = await this.db.transaction(async (tx) => {
      await tx.query('INSERT INTO facetrain_people (name) VALUES ($1) ON CONFLICT DO NOTHING', [person]);
      const added = await insertTemplates(tx, person, templates, this.dims);
      return { added, generation: this.templateIndex && (await nextGeneration(tx)) };
    });
    if (this.templateIndex) {
      const { ids, vectors, inserted } = addedTemplates(added, templates, this.dims);
      await this.templateIndex.add(ids, vectors, generation!);
      inserted.forEach((t, i) => this.labels.set(ids[i]!, { person, file: t.file, photoHash: t.photoHash }));
    }
    return { added: added.length, alreadyKnown: templates.length - added.length };
  }

  async forget(person: string): Promise<boolean> {
    const { found, ids, generation } = await this.db.transaction(async (tx) => {
      const removed = await tx.query<{ id: string }>('DELETE FROM facetrain_templates WHERE person = $1 RETURNING id', [person]);
      const { rows } = await tx.query('DELETE FROM facetrain_people WHERE name = $1 RETURNING name', [person]);
      return { found: rows.length > 0, ids: BigUint64Array.from(removed.rows, (r) => BigInt(r.id)), generation: this.templateIndex && (await nextGeneration(tx)) };
    });
    // no copy of the person's vectors stays in the saved search index either
    await this.templateIndex?.remove(ids, generation!);
    for (const id of ids) this.labels.delete(id);
    if (found && this.scrubFiles) {
      // costs a rewrite of the table (the bench measures it): the price of leaving no copy in the files
      await this.db.query('VACUUM FULL facetrain_templates');
      await this.db.query('SELECT pg_switch_wal()');
      // the first checkpoint unlinks the old table files, the second the WAL segment that held the rows
      await this.db.query('CHECKPOINT');
      await this.db.query('CHECKPOINT');
    }
    return found;
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
    if (this.templateIndex) {
      // the search index alone: its vectors are the true ones and the labels are in memory (a PGlite query costs more than the search)
      return (await this.templateIndex.search(embedding, k)).map((hit) => ({ ...this.labels.get(hit.id)!, similarity: hit.similarity }));
    }
    // <#> is the negative inner product: the cosine of unit vectors, negated
    const { rows } = await this.db.query<{ person: string; file: string; photo_hash: string; similarity: number }>(
      'SELECT person, file, photo_hash, -(embedding <#> $1::vector) AS similarity FROM facetrain_templates ORDER BY embedding <#> $1::vector LIMIT $2',
      [vectorLiteral(embedding), Math.min(k, HNSW_EF_SEARCH)],
    );
    return rows.map((r) => ({ person: r.person, file: r.file, photoHash: r.photo_hash, similarity: r.similarity }));
  }

  async queue(photos: ArchivePhoto[]): Promise<number> {
    return queuePhotos(this.db, photos);
  }

  async indexNext(worker: string, work: (photo: ArchivePhoto) => Promise<ArchiveFace[]>): Promise<boolean> {
    return takePhoto(this.db, worker, async (tx, photo) => {
      const faces = await work(photo);
      faces.forEach((f) => checkDims(f.embedding, this.dims, this.location));
      const faceRows = faces.map((f, i) => [photo.photoHash, i, JSON.stringify(f.box), vectorLiteral(f.embedding)]);
      await insertRows(tx, 'INSERT INTO facetrain_archive_faces (photo_hash, face, box, embedding)', 'ON CONFLICT DO NOTHING RETURNING 1', faceRows, ['', '', '::jsonb', '::vector']);
      return faces.length;
    });
  }

  async progress(): Promise<ArchiveProgress> {
    return queueProgress(this.db);
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

  async close(): Promise<void> {
    try {
      await this.templateIndex?.close();
    } finally {
      await this.db.end();
    }
  }
}
