/**
 * A process that enrols templates into an embedded gallery and dies by SIGKILL before closing it
 * (so before its search index is saved): the stale-index test's crash, in a real process.
 * Arguments: <pglite folder> <person> <seed> <count>.
 */
import { openGallery } from '../../src/gallery/open.js';
import { seededTemplates } from './unit-vectors.js';

const [dir, person, seed, count] = process.argv.slice(2) as [string, string, string, string];
const store = await openGallery(`pglite:${dir}`, 512);
await store.enroll(person, seededTemplates(person, Number(seed), Number(count)));
process.stdout.write('enrolled\n');
process.kill(process.pid, 'SIGKILL');
