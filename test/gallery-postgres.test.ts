import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { FacetrainError } from '../src/errors.js';
import { queuePhotos, queueProgress, takePhoto } from '../src/gallery/archive-queue.js';
import { openGallery } from '../src/gallery/open.js';
import { postgresClient } from '../src/gallery/postgres-client.js';
import { migrateRecords } from '../src/gallery/sql-schema.js';
import { HNSW_EF_SEARCH } from '../src/gallery/sql-store.js';
import type { SqlClient } from '../src/gallery/sql-session.js';
import type { ArchivePhoto } from '../src/gallery/store.js';
import { startPgliteServer } from './support/pglite-server.js';

/**
 * The gallery's parts that need no vector type, on a real PostgreSQL server with one backend per
 * connection (Debian's PostgreSQL 15, which has no pgvector: `.ci/run` starts it and sets
 * FACETRAIN_TEST_POSTGRES_URL): first-use migration raced by several backends, and the archive's
 * job queue shared by concurrent workers. pglite-server (test/gallery.test.ts) runs one backend, so
 * there transactions take turns and row locks never meet.
 */
const SERVER = process.env.FACETRAIN_TEST_POSTGRES_URL;
if (!SERVER && process.env.CI) throw new Error('CI=true but FACETRAIN_TEST_POSTGRES_URL is not set; .ci/run starts Debian\'s PostgreSQL and sets it');
const skip = SERVER ? false : 'FACETRAIN_TEST_POSTGRES_URL is not set: start a PostgreSQL server (as .ci/run does) and set it to its URL to run these tests';
const HOLDER_CHILD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'support/queue-holder-child.js');
const DIMS = 512;

let admin: pg.Client;
const databases: string[] = [];
const clients: SqlClient[] = [];
const children: ChildProcess[] = [];

before(async () => {
  if (!SERVER) return;
  admin = new pg.Client({ connectionString: SERVER });
  await admin.connect();
});

after(async () => {
  if (!SERVER) return;
  // a failed check leaves the holder waiting: it must not outlive the test
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(clients.map((c) => c.end()));
  for (const name of databases) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
});

/** A new empty database on the server: its URL. */
async function freshDatabase(): Promise<string> {
  const name = `facetrain_test_${process.pid}_${databases.length}`;
  await admin.query(`CREATE DATABASE ${name}`);
  databases.push(name);
  const url = new URL(SERVER!);
  url.pathname = `/${name}`;
  return url.toString();
}

/** `count` clients (each its own pool, so its own backends), connected before the race starts. */
async function connected(url: string, count: number): Promise<SqlClient[]> {
  const made = await Promise.all(Array.from({ length: count }, (_, i) => postgresClient(url, `client ${i}`)));
  clients.push(...made);
  await Promise.all(made.map((c) => c.query('SELECT 1')));
  return made;
}

async function facetrainTables(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE tablename LIKE 'facetrain%' ORDER BY tablename`)).rows.map((r) => r.tablename);
  } finally {
    await client.end();
  }
}

test('first use by 8 backends at once: the schema\'s first half (no vector type) is made once; the whole migration without pgvector fails in one line and leaves nothing', { skip }, async () => {
  const url = await freshDatabase();
  const racers = await connected(url, 8);
  const results = await Promise.allSettled(racers.map((db) => db.transaction((tx) => migrateRecords(tx, DIMS, url))));
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
  assert.deepEqual(failed, [], 'every concurrent first use succeeds (the migration lock serialises them)');
  const fresh = results.filter((r) => r.status === 'fulfilled' && !r.value.has('dims')).length;
  assert.equal(fresh, 1, 'exactly one of them found an empty database and made the tables');
  assert.deepEqual(await facetrainTables(url), ['facetrain_archive_photos', 'facetrain_gallery_meta', 'facetrain_people']);
  const meta = (await racers[0]!.query<{ key: string; value: string }>('SELECT key, value FROM facetrain_gallery_meta ORDER BY key')).rows;
  assert.deepEqual(meta, [{ key: 'dims', value: String(DIMS) }, { key: 'schema', value: '1' }]);
  await assert.rejects(racers[1]!.transaction((tx) => migrateRecords(tx, 192, 'the test gallery')), (err: FacetrainError) => {
    assert.equal(err.code, 'FT_ERR_MODEL');
    assert.match(err.message, /^the test gallery: this gallery holds 512-value embeddings but the model makes 192; use a gallery made with the same base$/);
    return true;
  });

  // the whole migration, as `--gallery postgres://...` runs it, on a server without pgvector
  const empty = await freshDatabase();
  await assert.rejects(openGallery(empty, DIMS), (err: FacetrainError) => {
    assert.equal(err.code, 'FT_ERR_UNSUPPORTED');
    assert.match(err.message, /: the pgvector extension is not available \(.*vector.*\); install pgvector on the server \(see README, Galleries\)$/);
    assert.ok(err.message.startsWith(empty.replace(/\?.*$/, '')), `the message names the gallery: ${err.message}`);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
  assert.deepEqual(await facetrainTables(empty), [], 'the migration is one transaction: its first half is rolled back with the rest');
});

test('the archive queue on 6 concurrent backends (and a worker process killed while it holds a photo): every photo is queued once and recorded exactly once', { skip, timeout: 120_000 }, async () => {
  const url = await freshDatabase();
  const [setup] = await connected(url, 1);
  await setup!.transaction((tx) => migrateRecords(tx, DIMS, url));
  const photos: ArchivePhoto[] = Array.from({ length: 120 }, (_, i) => ({ photoHash: `hash-${String(i).padStart(3, '0')}`, file: `/archive/${String(i).padStart(3, '0')}.jpg` }));
  const workers = await connected(url, 6);
  // each worker queues an overlapping two thirds of the archive at once, as several `index` runs do: each photo once
  const fresh = await Promise.all(workers.map((db, w) => queuePhotos(db, photos.filter((_, i) => (i + w) % 3 !== 0))));
  assert.equal(fresh.reduce((a, b) => a + b, 0), photos.length, `new photos counted by each worker: ${fresh.join(', ')}`);

  // a worker process takes a photo and holds it (transaction open) until it is killed
  const holder = spawn(process.execPath, [HOLDER_CHILD, url], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(holder);
  const [line] = (await once(holder.stdout!, 'data')) as [Buffer];
  const held = /^holding (\S+)/.exec(String(line))?.[1];
  assert.ok(held, `the holder said which photo it took: ${line}`);

  const taken = new Map<string, number>();
  const byWorker = new Array<number>(workers.length).fill(0);
  let inFlight = 0;
  let mostInFlight = 0;
  const drain = async (db: SqlClient, w: number) => {
    const record = async (_tx: unknown, photo: ArchivePhoto) => {
      taken.set(photo.photoHash, (taken.get(photo.photoHash) ?? 0) + 1);
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      // a photo's work takes a while (detect, embed): other backends must pass over the locked row meanwhile
      await sleep(3);
      inFlight--;
      byWorker[w]!++;
      return 1;
    };
    while (await takePhoto(db, `worker-${w}`, record));
  };
  await Promise.all(workers.map(drain));
  assert.equal(taken.has(held), false, 'the photo the holder locked was passed over, not waited for');
  assert.deepEqual(await queueProgress(setup!), { photos: 120, indexed: 119, faces: 119 });
  assert.ok(mostInFlight > 1, `photos were held by several backends at once (at most ${mostInFlight})`);
  assert.ok(byWorker.filter((n) => n > 0).length > 1, `the work was shared: ${byWorker.join(', ')}`);

  // the killed worker's backend rolls its transaction back: the photo is pending again, and taken once
  holder.kill('SIGKILL');
  await once(holder, 'exit');
  for (let tries = 0; (await queueProgress(setup!)).indexed < 120 && tries < 100; tries++) {
    await Promise.all(workers.map(drain));
    await sleep(50);
  }
  assert.deepEqual(await queueProgress(setup!), { photos: 120, indexed: 120, faces: 120 });
  const twice = [...taken].filter(([, n]) => n !== 1).map(([hash, n]) => `${hash} x${n}`);
  assert.deepEqual(twice, [], 'no photo was worked on twice');
  assert.equal(taken.size, 120);
  const recorded = (await setup!.query<{ indexed_by: string; n: number }>('SELECT indexed_by, count(*)::int AS n FROM facetrain_archive_photos GROUP BY indexed_by ORDER BY indexed_by')).rows;
  assert.equal(recorded.reduce((a, r) => a + r.n, 0), 120);
  assert.ok(recorded.every((r) => r.indexed_by !== 'holder'), 'nothing was recorded by the killed worker');
});

test('every connection of the postgres:// pool searches with the store\'s hnsw.ef_search, on pglite-server (which ignores startup options) and on PostgreSQL', async () => {
  const lite = await startPgliteServer();
  try {
    for (const url of [lite.url, ...(SERVER ? [SERVER] : [])]) {
      const db = await postgresClient(url, 'ef_search check');
      try {
        // as many transactions at once as the pool has connections: each on a connection of its own
        const settings = await Promise.all(Array.from({ length: 4 }, () => db.transaction(async (tx) => {
          const { rows } = await tx.query<{ ef: string }>(`SELECT current_setting('hnsw.ef_search', true) AS ef, pg_sleep(0.05)`);
          return rows[0]!.ef;
        })));
        assert.deepEqual(settings, new Array(4).fill(String(HNSW_EF_SEARCH)), url);
      } finally {
        await db.end();
      }
    }
  } finally {
    await lite.stop();
  }
});
