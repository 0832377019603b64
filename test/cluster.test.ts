import assert from 'node:assert/strict';
import { cp, lstat, mkdir, readdir, readFile, realpath, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { chineseWhispers } from '../src/cluster/chinese-whispers.js';
import { groupFaces, LOOSE_TIE } from '../src/cluster/group-faces.js';
import { approximateNeighbours, nearestNeighbours } from '../src/cluster/nearest-neighbours.js';
import { bcubed } from '../src/cluster/bcubed.js';
import { REFERENCE_FACES, thresholdForFaces } from '../src/cluster/dump-size.js';
import { clusterPhotos, CONTACT_SHEET_FILE, linkName, type ClusterResult } from '../src/api/cluster.js';
import { CACHE_DIR } from '../src/cluster/face-cache.js';
import { loadClusterEmbedder } from '../src/api/cluster-embedder.js';
import { openGallery } from '../src/gallery/open.js';
import { decodeImage } from '../src/image/decode.js';
import { hashBytes } from '../src/model-dir/gallery.js';
import { chooseRuntime } from '../src/runtime/choose.js';
import { UNSORTED_DIR } from '../src/dataset/scan.js';
import { createRandom } from '../src/util/random.js';
import { blockNetwork, chromiumAvailable, collectPageErrors, launch } from './support/browser.js';
import { runFacetrain } from './support/cli.js';
import { buildPhotoMix, scoreClustering, type MixScore, type PhotoMix } from './support/cluster-mix.js';
import { needsShared, sharedPath, tempDir } from './support/shared.js';

function unitVector(values: number[]): Float32Array {
  const norm = Math.hypot(...values) || 1;
  return Float32Array.from(values, (v) => v / norm);
}

/** Blobs of noisy copies of random directions: vectors of one blob are close, of two blobs far apart. */
function blobs(count: number, perBlob: number, dims: number, noise: number, seed: number): Float32Array[] {
  const random = createRandom(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const centres = Array.from({ length: count }, () => Array.from({ length: dims }, gaussian));
  return centres.flatMap((c) => Array.from({ length: perBlob }, () => unitVector(c.map((x) => x + noise * gaussian()))));
}

/** Every other vector by similarity, best first (ties: lower index first): the definition nearestNeighbours must meet. */
function bruteForceNeighbours(vectors: Float32Array[], i: number, k: number): number[] {
  const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, d) => s + x * b[d]!, 0);
  return vectors
    .map((v, j) => [j, dot(vectors[i]!, v)] as const)
    .filter(([j]) => j !== i)
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, k)
    .map(([j]) => j);
}

test('nearest neighbours in blocks are the exact k most similar vectors of each', () => {
  // 150 vectors: more than two blocks, so pairs inside a block and across blocks are both scored
  const vectors = blobs(10, 15, 16, 1.5, 4);
  const graph = nearestNeighbours(vectors, 7, 'exact');
  assert.equal(graph.k, 7);
  for (const i of [0, 1, 63, 64, 100, 149]) {
    const found = Array.from(graph.index.subarray(i * 7, i * 7 + 7));
    assert.deepEqual(found, bruteForceNeighbours(vectors, i, 7), `vector ${i}`);
  }
  const few = nearestNeighbours(vectors.slice(0, 3), 10, 'exact');
  assert.equal(few.k, 2, 'at most n - 1 neighbours');
  assert.equal(nearestNeighbours([], 5, 'exact').index.length, 0);
});

test('the HNSW index finds at least 99 % of the true neighbours, and the same groups as the exact search', () => {
  // 60 people of 20 faces in 192 dimensions, MobileFaceNet's size: a face and another of its person at cosine ~0.5
  const vectors = blobs(60, 20, 192, 1, 6);
  const exact = nearestNeighbours(vectors, 10, 'exact');
  const approximate = approximateNeighbours(vectors, 10);
  assert.equal(approximate.k, 10);
  let found = 0;
  for (let i = 0; i < vectors.length; i++) {
    const truth = new Set(exact.index.subarray(i * 10, i * 10 + 10));
    found += Array.from(approximate.index.subarray(i * 10, i * 10 + 10)).filter((j) => truth.has(j)).length;
    const nearest = approximate.index[i * 10]!;
    const cosine = vectors[i]!.reduce((sum, x, d) => sum + x * vectors[nearest]![d]!, 0);
    assert.ok(Math.abs(approximate.similarity[i * 10]! - cosine) < 1e-5, `vector ${i}: the similarity given is the cosine`);
  }
  const recall = found / (vectors.length * 10);
  assert.ok(recall >= 0.99, `recall of the true 10 neighbours ${recall}`);
  assert.deepEqual(approximateNeighbours(vectors, 10), approximate, 'the same vectors give the same index');
  const faces = vectors.map((embedding, i) => ({ embedding, photo: `p${i}` }));
  const rule = { linkSimilarity: 0.4, joinSimilarity: 0.3, minPhotos: 3, seed: 1 };
  assert.deepEqual(groupFaces(faces, rule, 'approximate'), groupFaces(faces, rule, 'exact'));
  assert.equal(approximateNeighbours(vectors.slice(0, 1), 10).k, 0);
});

test('Chinese whispers keeps linked nodes together, unlinked apart, and repeats itself for a seed', () => {
  // two triangles joined by one weak edge, and a node without edges
  const edges: [number, number][][] = [[[1, 1], [2, 1]], [[0, 1], [2, 1]], [[0, 1], [1, 1], [3, 0.1]], [[2, 0.1], [4, 1], [5, 1]], [[3, 1], [5, 1]], [[3, 1], [4, 1]], []];
  for (const seed of [1, 2, 3]) {
    const label = chineseWhispers(edges, seed);
    assert.equal(new Set([label[0], label[1], label[2]]).size, 1, `seed ${seed}`);
    assert.equal(new Set([label[3], label[4], label[5]]).size, 1, `seed ${seed}`);
    assert.notEqual(label[0], label[3]);
    assert.equal(label[6], 6, 'a node without edges stays alone');
    assert.deepEqual(chineseWhispers(edges, seed), label);
  }
});

test('groupFaces finds the blobs, never puts two faces of one photo together, and joins an odd face to its group', () => {
  const vectors = blobs(5, 6, 32, 0.5, 5);
  const faces = vectors.map((embedding, i) => ({ embedding, photo: `p${i}` }));
  const rule = { linkSimilarity: 0.6, joinSimilarity: 0.3, minPhotos: 3, seed: 1 };
  const blobOf = (i: number) => Math.floor(i / 6);
  const groups = groupFaces(faces, rule);
  assert.deepEqual(groups.map((g) => g.map(blobOf)), [0, 1, 2, 3, 4].map((b) => Array<number>(6).fill(b)));
  // one photo holding two identical faces: they are never put together
  const twins = [...faces, { embedding: vectors[0]!, photo: 'group-photo' }, { embedding: vectors[0]!, photo: 'group-photo' }];
  assert.ok(groupFaces(twins, rule).every((g) => !(g.includes(30) && g.includes(31))));
  // an odd face: below the link similarity to every face, above the join similarity to its nearest
  const similarity = (a: Float32Array, b: Float32Array) => a.reduce((s, x, d) => s + x * b[d]!, 0);
  const [away] = blobs(1, 1, 32, 0, 9);
  const odd = unitVector(Array.from(vectors[0]!, (x, d) => 0.4 * x + 0.9 * away![d]!));
  const best = Math.max(...vectors.map((v) => similarity(v, odd)));
  assert.ok(best < rule.linkSimilarity && best >= rule.joinSimilarity, `odd face's best similarity ${best}`);
  const oddGroup = groupFaces([...faces, { embedding: odd, photo: 'odd' }], rule).find((g) => g.includes(30))!;
  assert.equal(oddGroup.length, 7, 'the odd face joined a group of six');
  assert.equal(blobOf(oddGroup[0]!), blobOf(vectors.findIndex((v) => similarity(v, odd) === best)));
});

test('groupFaces moves a face loosely tied to a tight group to the large group of its most similar face elsewhere', () => {
  const dims = 64;
  const random = createRandom(11);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const axis = (d: number) => Array.from({ length: dims }, (_, i) => (i === d ? 1 : 0));
  // ten near-identical photos of one sitting (axis 0), six varied photos of someone else (axis 1)
  const tight = Array.from({ length: 10 }, () => unitVector(axis(0).map((x) => x + 0.0125 * gaussian())));
  const loose = Array.from({ length: 6 }, () => unitVector(axis(1).map((x) => x + 0.12 * gaussian())));
  const rule = { linkSimilarity: 0.45, joinSimilarity: 0.4, minPhotos: 3, seed: 1 };
  const similarity = (a: Float32Array, b: Float32Array) => a.reduce((s, x, d) => s + x * b[d]!, 0);
  const best = (face: Float32Array, among: Float32Array[]) => Math.max(...among.map((v) => similarity(face, v)));
  const weakestTight = Math.min(...tight.map((v) => best(v, tight.filter((w) => w !== v))));
  const placed = (towardLoose: number, elsewhere: number) => {
    const face = unitVector(axis(0).map((x, d) => 0.5 * x + (d === 1 ? towardLoose : d === 2 ? elsewhere : 0)));
    const vectors = [...tight, ...loose, face];
    const groups = groupFaces(vectors.map((embedding, i) => ({ embedding, photo: `p${i}` })), rule);
    return { tie: best(face, tight), toLoose: best(face, loose), group: groups.find((g) => g.includes(16))!.filter((m) => m !== 16) };
  };
  const tightGroup = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  // linked only into the tight group, at under LOOSE_TIE of its own weakest tie; the varied group reaches the join similarity
  const moved = placed(0.65, 0.6);
  assert.ok(moved.tie >= rule.linkSimilarity && moved.tie < LOOSE_TIE * weakestTight, `tie ${moved.tie}, the group's weakest ${weakestTight}`);
  assert.ok(moved.toLoose >= rule.joinSimilarity && moved.toLoose < rule.linkSimilarity, `to the other group ${moved.toLoose}`);
  assert.deepEqual(moved.group, [10, 11, 12, 13, 14, 15], 'it went to the varied group');
  // as loosely tied, but nothing elsewhere reaches the join similarity: it stays
  const alone = placed(0.55, 0.7);
  assert.ok(alone.tie < LOOSE_TIE * weakestTight && alone.toLoose < rule.joinSimilarity, `${alone.tie}, ${alone.toLoose}`);
  assert.deepEqual(alone.group, tightGroup);
  // tied closer than LOOSE_TIE: it stays though the varied group reaches the join similarity
  const tied = placed(0.6, 0.5);
  assert.ok(tied.tie >= LOOSE_TIE * weakestTight && tied.toLoose >= rule.joinSimilarity && tied.toLoose < rule.linkSimilarity, `${tied.tie}, ${tied.toLoose}`);
  assert.deepEqual(tied.group, tightGroup);
});

test('thresholds for many faces: the base\'s up to REFERENCE_FACES, above it as many strangers per face as at that size', () => {
  const strangers = { mean: 0.01, sd: 0.15 };
  assert.equal(thresholdForFaces(0.45, REFERENCE_FACES, strangers), 0.45);
  assert.equal(thresholdForFaces(0.45, 10 * REFERENCE_FACES, undefined), 0.45, 'no stranger figures: fixed');
  // a million strangers' similarities drawn from the model: the share at or above each threshold, times the faces each face meets
  const random = createRandom(3);
  const sample = Float64Array.from({ length: 1_000_000 }, () => strangers.mean + strangers.sd * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()));
  const perFace = (threshold: number, faces: number) => (sample.filter((s) => s >= threshold).length / sample.length) * faces;
  const reference = perFace(0.45, REFERENCE_FACES);
  let previous = 0.45;
  for (const faces of [2 * REFERENCE_FACES, 5 * REFERENCE_FACES, 20 * REFERENCE_FACES]) {
    const threshold = thresholdForFaces(0.45, faces, strangers);
    assert.ok(threshold > previous, `${faces} faces: ${threshold} rises`);
    previous = threshold;
    const met = perFace(threshold, faces);
    assert.ok(Math.abs(met - reference) < 0.1 * reference, `${faces} faces at ${threshold.toFixed(4)}: ${met.toFixed(3)} strangers per face, ${reference.toFixed(3)} at ${REFERENCE_FACES}`);
  }
});

test('BCubed precision and recall follow their definition', () => {
  // one person split in two groups: every group is pure; items 0 and 1 see 2 of 3, item 2 sees 1 of 3
  const split = bcubed([1, 1, 2], ['x', 'x', 'x']);
  assert.equal(split.precision, 1);
  assert.ok(Math.abs(split.recall - 5 / 9) < 1e-12, String(split.recall));
  assert.ok(Math.abs(split.f1 - (2 * 5) / 9 / (1 + 5 / 9)) < 1e-12, String(split.f1));
  const merged = bcubed([1, 1, 1, 1], ['x', 'x', 'y', 'y']);
  assert.equal(merged.recall, 1);
  assert.equal(merged.precision, 0.5);
});

interface MixRun {
  mix: PhotoMix;
  out: string;
  result: ClusterResult;
}

let mixRun: Promise<MixRun> | undefined;
/** One clustering of the shared mix (about two minutes), shared by the tests below. */
function clusteredMix(): Promise<MixRun> {
  mixRun ??= (async () => {
    const root = await tempDir('cluster-mix');
    const mix = await buildPhotoMix(path.join(root, 'dump'));
    const out = path.join(root, 'people');
    return { mix, out, result: await clusterPhotos({ photosDir: mix.dir, outDir: out }) };
  })();
  return mixRun;
}

test('cluster sorts the shared sets mixed without labels into about one group per person', { skip: needsShared, timeout: 900_000 }, async (t) => {
  const run = await clusteredMix();
  const scores = scoreClustering(run.mix, run.result);
  const { whole, peopleWith3Photos: people } = scores;
  const groups = run.result.groups.length;
  t.diagnostic(`${run.mix.truth.size} labelled photos of ${run.mix.people} people, ${run.result.faces.length} faces: BCubed precision ${scores.precision.toFixed(3)}, recall ${scores.recall.toFixed(3)}; ${groups} groups; ${whole}/${people} people with >= 3 photos in one group; rule ${JSON.stringify(run.result.rule)}`);
  assert.equal(scores.photosWithFace, run.mix.truth.size, 'a face is found in every labelled photo');
  // the bar; MobileFaceNet reaches precision 0.986, recall 1.000, 66 groups, 67 of 67 people whole here
  assert.ok(scores.precision >= 0.95, `BCubed precision ${scores.precision}`);
  assert.ok(scores.recall >= 0.95, `BCubed recall ${scores.recall}`);
  assert.ok(Math.abs(groups - run.mix.people) <= 0.1 * run.mix.people, `${groups} groups for ${run.mix.people} people`);
});

test('the issue\'s bar: every person with >= 3 photos in one group', { skip: needsShared, timeout: 900_000 }, async () => {
  const { mix, result } = await clusteredMix();
  const scores = scoreClustering(mix, result);
  // the last one split, an Elton John stage photo linked into ORL s4's near-identical photos, is re-placed (replaceLooseFaces)
  assert.equal(scores.whole, scores.peopleWith3Photos, `${scores.whole} of ${scores.peopleWith3Photos} people entirely in one group`);
});

test('on a larger mix (ORL s1-s40, Yale, LFW people with >= 3 photos), thresholds for the number of faces keep the bar that fixed ones miss', { skip: needsShared, timeout: 1_800_000 }, async (t) => {
  const { out } = await clusteredMix();
  const root = await tempDir('cluster-larger-mix');
  const mix = await buildPhotoMix(path.join(root, 'dump'), 1, { orl: [1, 40], yale: true, lfwMinPhotos: 3 });
  const sorted = path.join(root, 'people');
  // the shared mix's photos are all in this one: their faces come from its cache
  await cp(path.join(out, CACHE_DIR), path.join(sorted, CACHE_DIR), { recursive: true });
  const embedder = await loadClusterEmbedder(await chooseRuntime(undefined));
  const { strangerSimilarity: _, ...fixedThresholds } = embedder;
  try {
    const scored = async (faceEmbedder: typeof fixedThresholds): Promise<MixScore & { groups: number; rule: ClusterResult['rule'] }> => {
      const result = await clusterPhotos({ photosDir: mix.dir, outDir: sorted, force: true }, () => {}, faceEmbedder);
      return { ...scoreClustering(mix, result), groups: result.groups.length, rule: result.rule };
    };
    const forFaces = await scored(embedder);
    const fixed = await scored(fixedThresholds);
    for (const [name, s] of [['for the faces', forFaces], ['fixed', fixed]] as const) {
      t.diagnostic(`${name}: ${s.rule.faces} faces, link ${s.rule.linkSimilarity.toFixed(3)}, join ${s.rule.joinSimilarity.toFixed(3)}: BCubed ${s.precision.toFixed(3)} / ${s.recall.toFixed(3)}, ${s.groups} groups for ${mix.people} people, ${s.whole}/${s.peopleWith3Photos} whole`);
    }
    assert.ok(forFaces.rule.linkSimilarity > embedder.linkSimilarity && forFaces.rule.faces > REFERENCE_FACES);
    assert.equal(fixed.rule.linkSimilarity, embedder.linkSimilarity);
    assert.ok(forFaces.precision >= 0.95, `BCubed precision ${forFaces.precision}`);
    assert.ok(forFaces.recall >= 0.95, `BCubed recall ${forFaces.recall}`);
    assert.ok(Math.abs(forFaces.groups - mix.people) <= 0.1 * mix.people, `${forFaces.groups} groups for ${mix.people} people`);
    assert.ok(forFaces.precision > fixed.precision, 'fewer people joined than with fixed thresholds');
    assert.ok(forFaces.whole >= fixed.whole, 'no more people split');
  } finally {
    embedder.dispose();
  }
});

test('cluster writes one folder of links per group, a photo with several people in each of their groups', { skip: needsShared, timeout: 900_000 }, async () => {
  const { mix, out, result } = await clusteredMix();
  const folders = (await readdir(out, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  assert.deepEqual(folders, [...result.groups.map((g) => g.name), ...(result.unsorted.length > 0 ? [UNSORTED_DIR] : [])].sort());
  const sizes = result.groups.map((g) => g.photos.length);
  assert.deepEqual(sizes, [...sizes].sort((a, b) => b - a), 'largest group first');
  for (const group of result.groups) {
    const files = (await readdir(path.join(out, group.name))).sort();
    assert.deepEqual(files, group.photos.map(linkName).sort());
    for (const [i, file] of files.entries()) {
      if (i > 2) break;
      const link = path.join(out, group.name, file);
      assert.ok((await lstat(link)).isSymbolicLink());
      const photo = group.photos.find((p) => linkName(p) === file)!;
      assert.equal(await realpath(link), await realpath(path.join(mix.dir, photo)));
    }
  }
  const inGroups = (photo: string) => result.groups.filter((g) => g.photos.includes(photo)).length;
  const shared = mix.scenes.filter((scene) => inGroups(scene) >= 2);
  assert.ok(shared.length > 0, 'a scene with several people is linked into several groups');
});

test('re-running cluster on the same photos takes every face from the cache and gives the same groups', { skip: needsShared, timeout: 900_000 }, async () => {
  const { mix, out, result } = await clusteredMix();
  const again = await clusterPhotos({ photosDir: mix.dir, outDir: out, force: true });
  assert.equal(again.cachedPhotos, mix.truth.size + mix.scenes.length);
  assert.deepEqual(again.groups, result.groups);
  assert.deepEqual(again.faces, result.faces);
});

test('approximate neighbours (the HNSW index of large dumps) give the mix the same groups as exact ones', { skip: needsShared, timeout: 900_000 }, async () => {
  const { mix, out, result } = await clusteredMix();
  const approximate = await clusterPhotos({ photosDir: mix.dir, outDir: out, force: true, neighbourSearch: 'approximate' });
  assert.deepEqual(scoreClustering(mix, approximate), scoreClustering(mix, result));
  assert.deepEqual(approximate.groups, result.groups);
  assert.deepEqual(approximate.faces, result.faces);
});

test('index.html shows one section per group with its face thumbnails, offline', { skip: needsShared || chromiumAvailable(), timeout: 900_000 }, async (t) => {
  const { out, result } = await clusteredMix();
  const browser = await launch();
  try {
    const attempted = await blockNetwork(browser.context);
    const page = await browser.context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(pathToFileURL(path.join(out, CONTACT_SHEET_FILE)).href);
    const sections = await page.locator('section.group').evaluateAll((nodes) =>
      nodes.map((s) => ({ group: s.getAttribute('data-group'), heading: s.querySelector('h2')?.textContent ?? '', loaded: Array.from(s.querySelectorAll('img')).filter((img) => img.complete && img.naturalWidth > 0).length })),
    );
    assert.deepEqual(sections.map((s) => s.group), result.groups.map((g) => g.name));
    for (const [i, s] of sections.entries()) {
      const group = result.groups[i]!;
      assert.equal(s.loaded, group.faces, `${group.name}: every face thumbnail shows`);
      assert.match(s.heading, new RegExp(`${group.photos.length} photos?`));
    }
    const shared = await page.locator('section.shared li').count();
    assert.ok(shared > 0, 'the photos with several people are listed');
    const shot = path.join(out, '..', 'contact-sheet.png');
    await page.screenshot({ path: shot, fullPage: false });
    t.diagnostic(`screenshot: ${shot}`);
    assert.deepEqual(errors, []);
    assert.deepEqual(attempted, []);
  } finally {
    await browser.close();
  }
});

test('facetrain cluster, rename, train, then cluster --model names the people it learnt', { skip: needsShared, timeout: 900_000 }, async () => {
  const root = await tempDir('cluster-cli');
  const out = path.join(root, 'sorted');
  const first = runFacetrain(['cluster', sharedPath('datasets', 'bbt'), '--out', out, '--copy', '--json']);
  assert.equal(first.status, 0, first.stderr);
  const events = first.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; name?: string; photos?: number });
  assert.ok(events.some((e) => e.type === 'progress'));
  const groups = events.filter((e) => e.type === 'group');
  assert.ok(groups.length >= 2, `${groups.length} groups`);
  const firstGroup = path.join(out, groups[0]!.name!);
  assert.ok((await lstat(path.join(firstGroup, (await readdir(firstGroup))[0]!))).isFile(), '--copy copies');
  // the user names a folder; unsorted/, index.html and the cache are not people
  await rename(firstGroup, path.join(out, 'first-friend'));
  await mkdir(path.join(out, UNSORTED_DIR), { recursive: true });
  const model = path.join(root, 'model');
  const trained = runFacetrain(['train', out, '--out', model, '--epochs', '5', '--no-augment', '--json']);
  assert.equal(trained.status, 0, trained.stderr);
  const dataset = trained.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; people?: { name: string }[] }).find((e) => e.type === 'dataset')!;
  const trainedPeople = dataset.people!.map((p) => p.name).sort();
  assert.ok(trainedPeople.includes('first-friend') && !trainedPeople.includes(UNSORTED_DIR), trainedPeople.join(','));
  assert.equal(trainedPeople.length, groups.length);

  const named = runFacetrain(['cluster', sharedPath('datasets', 'bbt'), '--out', path.join(root, 'named'), '--model', model, '--json']);
  assert.equal(named.status, 0, named.stderr);
  const namedGroups = named.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; name?: string; known?: boolean }).filter((e) => e.type === 'group');
  const friend = namedGroups.find((g) => g.name === 'first-friend');
  assert.ok(friend?.known, 'the renamed folder comes back as a known person');
  const renamedPhotos = (await readdir(path.join(out, 'first-friend'))).sort();
  const namedPhotos = (await readdir(path.join(root, 'named', 'first-friend'))).sort();
  assert.ok(renamedPhotos.every((p) => namedPhotos.includes(p)), `${renamedPhotos} in ${namedPhotos}`);
});

test('cluster --gallery names the faces of people the gallery knows and groups only the rest', { skip: needsShared, timeout: 900_000 }, async () => {
  const root = await tempDir('cluster-gallery');
  const bbt = sharedPath('datasets', 'bbt');
  const embedder = await loadClusterEmbedder(await chooseRuntime(undefined), 'mobilefacenet');
  try {
    // the gallery knows howard from three of his photos; the command sees all of bbt
    const url = `file:${path.join(root, 'gallery.json')}`;
    const store = await openGallery(url, embedder.dims);
    const howard = (await readdir(path.join(bbt, 'howard'))).sort().map((f) => `howard/${f}`);
    const templates = await Promise.all(
      howard.slice(0, 3).map(async (photo) => {
        const bytes = await readFile(path.join(bbt, photo));
        const [face] = await embedder.embedFaces(await decodeImage(bytes, photo));
        return { photoHash: hashBytes(bytes), file: photo, embedding: face!.embedding };
      }),
    );
    await store.enroll('howard', templates);
    await store.close();
    const result = await clusterPhotos({ photosDir: bbt, outDir: path.join(root, 'out'), gallery: url, base: 'mobilefacenet' }, () => {}, embedder);
    const named = result.groups.find((g) => g.name === 'howard');
    assert.ok(named?.known, JSON.stringify(result.groups.map((g) => g.name)));
    assert.deepEqual(named.photos.filter((p) => p.startsWith('howard/')).sort(), howard, 'every photo of howard is named, the two the gallery has not seen too');
    const others = result.groups.filter((g) => !g.known);
    assert.ok(others.length >= 5, `${others.length} new groups for the other people`);
    assert.ok(others.every((g) => g.photos.every((p) => !p.startsWith('howard/'))), 'no new group holds howard');
  } finally {
    embedder.dispose();
  }
});

test('cluster reports bad input on one line with the documented exit code', { skip: needsShared, timeout: 300_000 }, async () => {
  const root = await tempDir('cluster-errors');
  const missing = runFacetrain(['cluster', path.join(root, 'nowhere'), '--out', path.join(root, 'out')]);
  assert.equal(missing.status, 3);
  assert.match(missing.stderr, /^error: .*nowhere: no such folder; pass the folder of photos to sort\n$/);
  const noOut = runFacetrain(['cluster', sharedPath('datasets', 'bbt')]);
  assert.equal(noOut.status, 2);
  assert.match(noOut.stderr, /^error: cluster needs --out/);
  const badMin = runFacetrain(['cluster', sharedPath('datasets', 'bbt'), '--out', path.join(root, 'out'), '--min-photos', '0']);
  assert.equal(badMin.status, 2);
  assert.match(badMin.stderr, /^error: Expected an integer from 1 to 100000 for --min-photos but received 0\n$/);
  const classifier = runFacetrain(['cluster', sharedPath('datasets', 'bbt'), '--out', path.join(root, 'out'), '--base', 'mobilenetv2']);
  assert.equal(classifier.status, 2);
  assert.match(classifier.stderr, /^error: Expected faceres or mobilefacenet for --base but received "mobilenetv2"\n$/);
  const badGallery = runFacetrain(['cluster', sharedPath('datasets', 'bbt'), '--out', path.join(root, 'out'), '--gallery', 'nowhere:x']);
  assert.equal(badGallery.status, 2);
  assert.match(badGallery.stderr, /^error: --gallery nowhere:x: not a gallery URL/);
  await mkdir(path.join(root, 'photos'));
  const inside = runFacetrain(['cluster', path.join(root, 'photos'), '--out', root, '--force']);
  assert.equal(inside.status, 2);
  assert.match(inside.stderr, /^error: --out .* holds the photos being sorted .*; choose a folder outside it\n$/);
  const busy = path.join(root, 'busy');
  await mkdir(busy);
  await writeFile(path.join(busy, 'notes.txt'), 'keep me\n');
  const exists = runFacetrain(['cluster', sharedPath('datasets', 'bbt'), '--out', busy]);
  assert.equal(exists.status, 7);
  assert.match(exists.stderr, /^error: .*busy already exists and is not empty; choose another --out or pass --force/);
});
