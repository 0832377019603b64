import pg from 'pg';
import { FacetrainError } from '../errors.js';
import type { SqlClient, SqlSession } from './sql-session.js';
import { HNSW_EF_SEARCH } from './sql-store.js';

/** Connections per process: recognitions in flight are bounded well below this by the server. */
const POOL_SIZE = 4;

function unreachable(location: string, err: Error): FacetrainError {
  const reason = (err as NodeJS.ErrnoException).code ?? err.message;
  return new FacetrainError('FT_ERR_NETWORK', `${location}: cannot reach the gallery database (${reason}); start PostgreSQL with pgvector there or fix the \`gallery\` URL`, { cause: err });
}

/** A node-postgres pool; every connection searches the HNSW index with the same ef_search. */
export async function postgresClient(url: string, location: string): Promise<SqlClient> {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE });
  // an idle connection the server drops must not crash the process; the next query reconnects
  pool.on('error', () => {});
  // a SET rather than the startup packet's `options`, which pglite-server ignores (its searches kept pgvector's 40);
  // queued on the new connection ahead of its first query, and a failure there fails that query's connection too
  pool.on('connect', (conn) => void conn.query(`SET hnsw.ef_search = ${HNSW_EF_SEARCH}`).catch(() => {}));
  const run = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).syscall || (err as NodeJS.ErrnoException).code === 'ECONNRESET') throw unreachable(location, err as Error);
      throw err;
    }
  };
  const client: SqlClient = {
    query: <Row>(text: string, params?: unknown[]) => run(async () => (await pool.query(text, params)) as unknown as { rows: Row[] }),
    transaction: (work) =>
      run(async () => {
        const conn = await pool.connect();
        const tx: SqlSession = { query: async <Row>(text: string, params?: unknown[]) => (await conn.query(text, params)) as unknown as { rows: Row[] } };
        try {
          await conn.query('BEGIN');
          const result = await work(tx);
          await conn.query('COMMIT');
          conn.release();
          return result;
        } catch (err) {
          // a connection that failed mid-transaction is discarded rather than reused
          await conn.query('ROLLBACK').catch(() => {});
          conn.release(true);
          throw err;
        }
      }),
    end: () => pool.end(),
  };
  return client;
}
