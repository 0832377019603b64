/**
 * A worker of the archive's job queue that takes one photo, says which, and then holds it (its
 * transaction open, the row locked) until it is killed: the queue test's crashed worker, in a real
 * process with its own PostgreSQL backend. Argument: <postgres URL>.
 */
import { takePhoto } from '../../src/gallery/archive-queue.js';
import { postgresClient } from '../../src/gallery/postgres-client.js';

const db = await postgresClient(process.argv[2]!, 'queue holder');
await takePhoto(db, 'holder', async (_tx, photo) => {
  process.stdout.write(`holding ${photo.photoHash}\n`);
  return new Promise<number>(() => {});
});
