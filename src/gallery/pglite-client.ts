import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { FacetrainError } from '../errors.js';
import type { SqlClient } from './sql-session.js';
import { HNSW_EF_SEARCH } from './sql-store.js';

/**
 * PostgreSQL compiled to WebAssembly with pgvector, its files in `dataDir` (inside the model
 * directory): the same SQL as a server, no server to run. One process opens it at a time.
 */
export async function pgliteClient(dataDir: string, location: string): Promise<SqlClient> {
  await mkdir(dataDir, { recursive: true });
  let db: PGlite;
  try {
    // WAL segments are deleted rather than reused once checkpointed, so a forgotten person's rows do not survive in an old segment (see SqlStoreOptions.scrubFiles)
    db = await PGlite.create(dataDir, { extensions: { vector }, postgresqlconf: ['wal_recycle = off'] });
  } catch (err) {
    throw new FacetrainError('FT_ERR_MODEL', `${location}: the embedded gallery cannot be opened (${(err as Error).message}); is another facetrain process using it?`, { cause: err });
  }
  await db.query(`SET hnsw.ef_search = ${HNSW_EF_SEARCH}`);
  const copyBinary = (session: Pick<PGlite, 'query'>) => async (target: string, data: Uint8Array<ArrayBuffer>) => {
    await session.query(`COPY ${target} FROM '/dev/blob' WITH (FORMAT binary)`, [], { blob: new Blob([data]) });
  };
  const copyOut = async (query: string): Promise<Uint8Array> => {
    const { blob } = await db.query(`COPY (${query}) TO '/dev/blob' WITH (FORMAT binary)`);
    return new Uint8Array(await blob!.arrayBuffer());
  };
  return {
    query: (text, params) => db.query(text, params),
    copyBinary: copyBinary(db),
    copyOut,
    transaction: (work) => db.transaction((tx) => work({ query: (text, params) => tx.query(text, params), copyBinary: copyBinary(tx) })),
    end: () => db.close(),
  };
}
