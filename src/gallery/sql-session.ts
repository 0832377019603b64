/** What the SQL gallery needs from a PostgreSQL connection: node-postgres and PGlite both give it. */
export interface SqlSession {
  query<Row>(text: string, params?: unknown[]): Promise<{ rows: Row[] }>;
  /**
   * Runs `COPY <target> FROM '/dev/blob' WITH (FORMAT binary)` on `data`, where the client can
   * (PGlite): its WebAssembly parses a 512-value vector's text about 40 times slower than it copies
   * the binary form (measured in bench/gallery.ts).
   */
  copyBinary?(target: string, data: Uint8Array<ArrayBuffer>): Promise<void>;
  /** `COPY (<query>) TO ... WITH (FORMAT binary)`: the rows in PostgreSQL's binary form, where the client can (PGlite). */
  copyOut?(query: string): Promise<Uint8Array>;
}

export interface SqlClient extends SqlSession {
  /** Runs `work` in one transaction on one connection: committed if it returns, rolled back if it throws. */
  transaction<T>(work: (tx: SqlSession) => Promise<T>): Promise<T>;
  end(): Promise<void>;
}

/** Rows per INSERT: one round trip per batch, well under PostgreSQL's 65535 parameters. */
const INSERT_BATCH = 500;

/** `INSERT ... VALUES (...), (...)` of `rows`, `width` parameters each, in batches; the rows its `RETURNING` gave. */
export async function insertRows<Row>(tx: SqlSession, head: string, tail: string, rows: unknown[][], cast: string[]): Promise<Row[]> {
  const inserted: Row[] = [];
  for (let start = 0; start < rows.length; start += INSERT_BATCH) {
    const batch = rows.slice(start, start + INSERT_BATCH);
    const values = batch.map((_, r) => `(${cast.map((c, i) => `$${r * cast.length + i + 1}${c}`).join(', ')})`).join(', ');
    inserted.push(...(await tx.query<Row>(`${head} VALUES ${values} ${tail}`, batch.flat())).rows);
  }
  return inserted;
}
