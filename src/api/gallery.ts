import { BASE_ROWS, BASES, TRAIN_DEFAULTS } from '../base/index.js';
import type { EmbeddingBaseRow } from '../base/row.js';
import type { BaseName } from '../config.js';
import { FacetrainError } from '../errors.js';
import type { SkippedPhoto } from '../events.js';
import type { Box } from '../faces/geometry.js';
import type { InputSpec } from '../faces/input-spec.js';
import { matchNeighbours } from '../gallery/match.js';
import { openGallery } from '../gallery/open.js';
import type { ArchiveIndex, EnrollCount, GalleryStore } from '../gallery/store.js';
import { decodeImage, type DecodeOptions, type RgbImage } from '../image/decode.js';
import { hashBytes } from '../model-dir/gallery.js';
import { readManifest, type ModelManifest } from '../model-dir/manifest.js';
import { embeddingInputSpec, facePipelineOn } from '../recognize/face-pipeline.js';
import { PREDICT_DEFAULTS, type FaceResult, type PredictOptions } from '../recognize/recognizer.js';
import { chooseRuntime } from '../runtime/choose.js';
import type { RuntimeName } from '../runtime/runtime.js';
import { initEngine } from '../tfjs/backend.js';

export interface EmbeddedFace {
  box: Box;
  landmarks: [number, number][];
  embedding: Float32Array;
}

/** Detector + aligner + face embedder: photos in, one embedding per face out (largest face first). */
export interface FaceEmbeddingPipeline extends GalleryMatching {
  readonly dims: number;
  embedFaces(image: Uint8Array | RgbImage, label: string): Promise<EmbeddedFace[]>;
  dispose(): void;
}

/** How a gallery of this pipeline's embeddings names faces: its base's `galleryThreshold` unless a threshold is given. */
export interface GalleryMatching {
  readonly matchThreshold: number;
}

/**
 * What enrolment and recognition over a gallery need: photo bytes in, one embedding per face out
 * (largest first). A loaded pipeline is one; the server's worker threads are another.
 */
export interface PhotoEmbedder {
  embedFaces(photo: Uint8Array, label: string): Promise<EmbeddedFace[]>;
}

/** The embedding base a gallery's templates come from, and how faces are cropped for it. */
export interface GalleryEmbedding {
  base: EmbeddingBaseRow;
  input: InputSpec;
}

/** The bases of the table that embed faces (the ones a gallery can hold). */
function embeddingBaseNames(): BaseName[] {
  return BASES.filter((name) => BASE_ROWS[name].kind === 'embedding');
}

function notAGalleryModel(where: string): FacetrainError {
  return new FacetrainError('FT_ERR_UNSUPPORTED', `${where}: a gallery needs a face-embedding model on aligned faces; retrain with \`base\` ${embeddingBaseNames().join(' or ')} and face detection on`);
}

function embeddingRow(name: BaseName, where: string): EmbeddingBaseRow {
  const row = BASE_ROWS[name];
  if (row.kind !== 'embedding') throw notAGalleryModel(where);
  return row;
}

/** Without a model directory: the default base of `facetrain train`, on aligned faces as it trains them. */
export function defaultGalleryEmbedding(): GalleryEmbedding {
  const base = embeddingRow(TRAIN_DEFAULTS.base, `base ${TRAIN_DEFAULTS.base}`);
  return { base, input: embeddingInputSpec(base) };
}

/** The base and input spec of a model directory's recognizer, refused when it does not embed aligned faces. */
export function galleryEmbeddingOf(manifest: ModelManifest, modelDir: string): GalleryEmbedding {
  const base = embeddingRow(manifest.base.name, modelDir);
  if (manifest.input.crop !== 'aligned-face') throw notAGalleryModel(modelDir);
  return { base, input: manifest.input };
}

/** The gallery's view of the one face pipeline (recognize/face-pipeline.ts): photo bytes in, faces as the store keeps them out. */
export async function loadFacePipeline(model: GalleryEmbedding = defaultGalleryEmbedding(), engine?: RuntimeName, decodeOptions: DecodeOptions = {}): Promise<FaceEmbeddingPipeline> {
  await initEngine();
  const pipeline = await facePipelineOn(await chooseRuntime(engine), model.base, model.input);
  return {
    dims: pipeline.embedder.dims,
    matchThreshold: model.base.galleryThreshold,
    async embedFaces(image, label) {
      const rgb = image instanceof Uint8Array ? await decodeImage(image, label, decodeOptions) : image;
      return (await pipeline.embedFaces(rgb)).map(({ face, embedding }) => ({ box: face.box, landmarks: face.landmarks, embedding }));
    },
    dispose: () => pipeline.dispose(),
  };
}

export interface GallerySession {
  store: GalleryStore & Partial<ArchiveIndex>;
  faces: FaceEmbeddingPipeline;
  close(): Promise<void>;
}

/**
 * The face pipeline and the gallery a command works on: the model directory (when given) says how
 * faces are cropped and embedded, the URL where the templates are.
 */
export interface GallerySessionOptions {
  /** The model whose base embeds the faces (and where `embedded` lives); default: train's default base. */
  modelDir?: string;
  engine?: RuntimeName;
  /** Photos with more pixels are refused before decoding. */
  maxPixels?: number;
}

export async function openGallerySession(url: string, options: GallerySessionOptions = {}): Promise<GallerySession> {
  const model = options.modelDir ? galleryEmbeddingOf(await readManifest(options.modelDir), options.modelDir) : undefined;
  const faces = await loadFacePipeline(model, options.engine, { maxPixels: options.maxPixels });
  try {
    const store = await openGallery(url, faces.dims, options.modelDir);
    return {
      store,
      faces,
      close: async () => {
        faces.dispose();
        await store.close();
      },
    };
  } catch (err) {
    faces.dispose();
    throw err;
  }
}

/** Runs `work` on a gallery session and closes it whatever happens. */
export async function withGallery<T>(url: string, options: GallerySessionOptions, work: (session: GallerySession) => Promise<T>): Promise<T> {
  const session = await openGallerySession(url, options);
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}

export interface GalleryPhoto {
  file: string;
  bytes: Uint8Array;
}

/** Templates fetched per face: enough for a top-k of different people when a person has many photos. */
const NEIGHBOURS_PER_FACE = 50;

/** Adds one template per photo (its largest face) to `person`, in one transaction. */
export async function enrollInGallery(store: GalleryStore, faces: PhotoEmbedder, person: string, photos: GalleryPhoto[]): Promise<EnrollCount & { skipped: SkippedPhoto[] }> {
  const skipped: SkippedPhoto[] = [];
  const templates = [];
  for (const photo of photos) {
    try {
      const [largest] = await faces.embedFaces(photo.bytes, photo.file);
      if (largest) templates.push({ photoHash: hashBytes(photo.bytes), file: photo.file, embedding: largest.embedding });
      else skipped.push({ file: photo.file, reason: 'no face found' });
    } catch (err) {
      if (!(err instanceof FacetrainError)) throw err;
      skipped.push({ file: photo.file, reason: err.message });
    }
  }
  if (templates.length === 0) {
    throw new FacetrainError('FT_ERR_IMAGE', `no usable photo of ${person}${skipped[0] ? ` (${skipped[0].file}: ${skipped[0].reason})` : ''}; add photos that show the face clearly`);
  }
  return { ...(await store.enroll(person, templates)), skipped };
}

/** Removes a person and every template of theirs; an unknown name is an error naming the gallery. */
export async function forgetInGallery(store: GalleryStore, person: string): Promise<void> {
  if (await store.forget(person)) return;
  const known = (await store.people()).map((p) => p.name);
  throw new FacetrainError('FT_ERR_DATASET', `${store.location}: no person named ${person}; known: ${known.slice(0, 20).join(', ') || 'nobody yet'}${known.length > 20 ? ', ...' : ''}`);
}

/** Every face in the photo, named by its nearest templates (the photo's bytes, or decoded pixels for a loaded pipeline). */
export async function recognizeWithGallery<Photo = Uint8Array>(store: GalleryStore, faces: GalleryMatching & { embedFaces(photo: Photo, label: string): Promise<EmbeddedFace[]> }, photo: Photo, label: string, options: PredictOptions = {}): Promise<FaceResult[]> {
  const found = await faces.embedFaces(photo, label);
  const kept = options.maxFaces ? found.slice(0, options.maxFaces) : found;
  const threshold = options.threshold ?? faces.matchThreshold;
  return Promise.all(
    kept.map(async (face) => {
      const match = matchNeighbours(await store.nearest(face.embedding, NEIGHBOURS_PER_FACE), threshold, options.topK ?? PREDICT_DEFAULTS.topK);
      return { box: face.box, landmarks: face.landmarks, label: match.label, score: match.score, topK: match.candidates };
    }),
  );
}
