/**
 * A process that enrols templates into an embedded gallery and dies by SIGKILL before closing it
 * (so before its search index is saved): the stale-index test's crash, in a real process.
 * Arguments: <pglite folder> <person> <seed> <count>.
 */
import { openEmbeddedGallery } from '../../src/gallery/open.js';
import { seededTemplates } from './unit-vectors.js';

const [dir, person, seed, count] = process.argv.slice(2) as [string, string, string, string];
// the graph at any size (exact scan off), as the stale-index test opens it
const store = await openEmbeddedGallery(dir, 512, 0);
await store.enroll(person, seededTemplates(person, Number(seed), Number(count)));
process.stdout.write('enrolled\n');
process.kill(process.pid, 'SIGKILL');
