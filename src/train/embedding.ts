import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { FaceEmbedder } from '../faces/embedder.js';
import type { TrainConfig } from '../config.js';
import { skipReason, type Cropper } from '../dataset/prepare.js';
import type { Photo } from '../dataset/scan.js';
import type { EventSink, SkippedPhoto } from '../events.js';
import { applyHead, buildEmbeddingHead } from './head.js';
import { decodeImage } from '../image/decode.js';
import { decodeVector, encodeVector, hashBytes, type FaceBox, type GalleryEntry } from '../model-dir/gallery.js';
import { FacetrainError } from '../errors.js';
import { mapInOrder } from '../util/pipeline.js';
import { childSeed, createRandom } from '../util/random.js';
import { applyJitter, viewJitters } from './augment.js';
import { runDenseHeadPhase, type DenseHeadData } from './dense-head-step.js';
import { runTfjsPhase, type PhaseData } from './loop.js';
import type { EpochMetrics } from './phase.js';
import { variablesOf, type SharedTensor } from './replica.js';

/** One photo to embed: its bytes, their hash (it seeds the views' jitter) and the split it is for. */
export interface PhotoJob {
  file: string;
  bytes: Uint8Array;
  hash: string;
  split: GalleryEntry['split'];
  views: number;
  seed: number;
  maxPixels?: number;
}

/** What embedding one photo gave: each view's unit embedding, the faces found and the used face's box. */
export interface EmbeddedPhoto {
  faces: number;
  views: Float32Array[];
  box?: FaceBox;
  /** From the bytes to the embeddings, for the validation samples. */
  ms: number;
}

/** Turns one photo into embeddings, in this thread or in a worker thread. */
export type EmbedOnePhoto = (job: PhotoJob) => Promise<EmbeddedPhoto>;

/** The training crop (the whole decode, its largest face aligned), each view embedded in this thread. */
export function croppedPhotoEmbedder(embedder: FaceEmbedder, crop: Cropper): EmbedOnePhoto {
  return async (job) => {
    const started = performance.now();
    const { crop: face, faces, box } = await crop(await decodeImage(job.bytes, job.file, { maxPixels: job.maxPixels }), job.file);
    // seeded by the photo's content, so a cached entry stays valid whatever else is in the dataset
    const jitters = viewJitters(job.views, createRandom(childSeed(job.seed, job.hash)));
    const views = await embedder.embed(jitters.map((j) => applyJitter(face, j)));
    return { faces, views, ...(box ? { box } : {}), ms: performance.now() - started };
  };
}

export type EmbedContext = {
  /** Earlier embeddings by file hash (from the model directory being replaced). */
  cache: Map<string, GalleryEntry>;
  views: number;
  seed: number;
  onSkip: (s: SkippedPhoto) => void;
  onProgress?: () => void;
  /** Each photo embedded now (not taken from the cache), with what embedding it gave. */
  onEmbedded?: (entry: GalleryEntry, embedded: EmbeddedPhoto) => void;
  /** Where photo bytes come from (default: the file system); uploads pass their bodies. */
  readBytes?: (file: string) => Uint8Array | Promise<Uint8Array>;
  maxPixels?: number;
  /** Photos in flight at once; default `PHOTOS_IN_FLIGHT`. */
  inFlight?: number;
} & ({ embedPhoto: EmbedOnePhoto } | { embedder: FaceEmbedder; crop: Cropper });

async function readPhoto(file: string): Promise<Uint8Array> {
  return readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new FacetrainError('FT_ERR_IMAGE', `${file}: cannot be read (${err.code})`);
  });
}

/**
 * Photos in flight at once in one thread: one is read and decoded (sharp's threads) while another
 * is in onnxruntime (which runs on this thread); more only queue behind each other. Training
 * spreads photos over worker threads as well (`inFlight`).
 */
const PHOTOS_IN_FLIGHT = 2;

/** Embeds every view of every photo once, reusing cached embeddings of unchanged files; photos flow through in order. */
export async function embedPhotos(photos: Photo[], split: GalleryEntry['split'], ctx: EmbedContext): Promise<GalleryEntry[]> {
  const entries: GalleryEntry[] = [];
  const embedPhoto = 'embedPhoto' in ctx ? ctx.embedPhoto : croppedPhotoEmbedder(ctx.embedder, ctx.crop);
  const embedOne = async (photo: Photo): Promise<GalleryEntry | FacetrainError> => {
    try {
      const bytes = await (ctx.readBytes ?? readPhoto)(photo.file);
      const hash = hashBytes(bytes);
      const cached = ctx.cache.get(hash);
      // a validation entry is embedded as prediction sees the photo and keeps its face's box (for the report): reused only as one
      const reusable = cached && cached.views.length >= ctx.views && (split === 'train' || (cached.split === 'val' && cached.box !== undefined));
      if (reusable) return { ...cached, person: photo.person, file: path.basename(photo.file), split, views: cached.views.slice(0, ctx.views) };
      const embedded = await embedPhoto({ file: photo.file, bytes, hash, split, views: ctx.views, seed: ctx.seed, maxPixels: ctx.maxPixels });
      const entry: GalleryEntry = { hash, person: photo.person, file: path.basename(photo.file), split, faces: embedded.faces, views: embedded.views.map(encodeVector), ...(split === 'val' && embedded.box ? { box: embedded.box } : {}) };
      ctx.onEmbedded?.(entry, embedded);
      return entry;
    } catch (err) {
      if (!(err instanceof FacetrainError)) throw err;
      return err;
    }
  };
  await mapInOrder(photos, ctx.inFlight ?? PHOTOS_IN_FLIGHT, embedOne, (result, i) => {
    if (result instanceof FacetrainError) ctx.onSkip({ file: photos[i]!.file, reason: skipReason(result, photos[i]!.file) });
    else entries.push(result);
    ctx.onProgress?.();
  });
  return entries;
}

/** View-major rows (view v of photo p at v * photos + p), as the training loop reads them. */
function embeddingMatrix(entries: GalleryEntry[], views: number): SharedTensor {
  const dims = decodeVector(entries[0]!.views[0]!).length;
  const values = new Float32Array(views * entries.length * dims);
  for (let v = 0; v < views; v++) entries.forEach((e, p) => values.set(decodeVector(e.views[v]!), (v * entries.length + p) * dims));
  return { shape: [views * entries.length, dims], values };
}

/**
 * Heads with at most this many weights train faster in plain JS, larger ones on TF.js, whose matmul
 * kernels then outweigh its per-op cost (192-d embeddings, 30 epochs, one process: plain JS 2x as
 * fast at 100 people, 1.5x at 348; TF.js 1.4x as fast at 948).
 */
const PLAIN_JS_HEAD_MAX_WEIGHTS = 100_000;

/** Trains Dropout -> Dense(N, softmax) on frozen face embeddings with Adam (in plain JS for small heads). */
export async function trainEmbeddingHead(
  train: GalleryEntry[],
  val: GalleryEntry[],
  people: string[],
  config: Pick<TrainConfig, 'epochs' | 'learningRate' | 'batchSize' | 'seed' | 'dropout'>,
  emit: EventSink,
): Promise<{ head: tfl.Sequential; history: { phases: { name: string; epochs: EpochMetrics[] }[] } }> {
  const classOf = new Map(people.map((p, i) => [p, i]));
  const views = Math.min(...train.map((e) => e.views.length));
  const data = (entries: GalleryEntry[], v: number): DenseHeadData => ({ inputs: embeddingMatrix(entries, v), labels: entries.map((e) => classOf.get(e.person)!), views: v });
  const trainData = data(train, views);
  const valData = val.length > 0 ? data(val, 1) : undefined;
  const dims = trainData.inputs.shape[1]!;
  const head = buildEmbeddingHead({ numClasses: people.length, inputShape: [dims], dropout: config.dropout, seed: config.seed });
  const run = {
    name: 'head',
    learningRate: config.learningRate,
    epochs: config.epochs,
    batchSize: config.batchSize,
    seed: config.seed,
    onBatch: (b: { epoch: number; batch: number; batches: number; loss: number }) => emit({ type: 'batch', phase: 'head', epochs: config.epochs, ...b }),
    onEpoch: (m: EpochMetrics) => emit({ type: 'epoch', phase: 'head', epochs: config.epochs, ...m }),
  };
  if (dims * people.length <= PLAIN_JS_HEAD_MAX_WEIGHTS) {
    const epochs = await runDenseHeadPhase({ ...run, train: trainData, val: valData, head });
    return { head, history: { phases: [{ name: 'head', epochs }] } };
  }
  const onTfjs = ({ inputs, labels, views: v }: DenseHeadData): PhaseData => ({ inputs: [tf.tensor(inputs.values, inputs.shape)], labels, views: v });
  const [tfTrain, tfVal] = [onTfjs(trainData), valData && onTfjs(valData)];
  try {
    const epochs = await runTfjsPhase({
      ...run,
      train: tfTrain,
      val: tfVal,
      numClasses: people.length,
      forward: ([x], seed) => applyHead(head, x!, seed),
      variables: variablesOf(head.trainableWeights),
    });
    return { head, history: { phases: [{ name: 'head', epochs }] } };
  } finally {
    tf.dispose([...tfTrain.inputs, ...(tfVal?.inputs ?? [])]);
  }
}
