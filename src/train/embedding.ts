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
import { decodeVector, encodeVector, hashBytes, type GalleryEntry } from '../model-dir/gallery.js';
import { FacetrainError } from '../errors.js';
import { mapInOrder } from '../util/pipeline.js';
import { childSeed, createRandom } from '../util/random.js';
import { applyJitter, viewJitters } from './augment.js';
import { runTfjsPhase, type PhaseData } from './loop.js';
import type { EpochMetrics } from './phase.js';
import { variablesOf } from './replica.js';

export interface EmbedContext {
  embedder: FaceEmbedder;
  crop: Cropper;
  /** Earlier embeddings by file hash (from the model directory being replaced). */
  cache: Map<string, GalleryEntry>;
  views: number;
  seed: number;
  onSkip: (s: SkippedPhoto) => void;
  onProgress?: () => void;
  /** Where photo bytes come from (default: the file system); uploads pass their bodies. */
  readBytes?: (file: string) => Uint8Array | Promise<Uint8Array>;
  maxPixels?: number;
}

async function readPhoto(file: string): Promise<Uint8Array> {
  return readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new FacetrainError('FT_ERR_IMAGE', `${file}: cannot be read (${err.code})`);
  });
}

async function embedPhoto(photo: Photo, bytes: Uint8Array, hash: string, split: GalleryEntry['split'], ctx: EmbedContext): Promise<GalleryEntry> {
  const { crop, faces } = await ctx.crop(await decodeImage(bytes, photo.file, { maxPixels: ctx.maxPixels }), photo.file);
  // seeded by the photo's content, so a cached entry stays valid whatever else is in the dataset
  const jitters = viewJitters(ctx.views, createRandom(childSeed(ctx.seed, hash)));
  const embeddings = await ctx.embedder.embed(jitters.map((j) => applyJitter(crop, j)));
  return { hash, person: photo.person, file: path.basename(photo.file), split, faces, views: embeddings.map(encodeVector) };
}

/**
 * Photos in flight at once: one is read and decoded (sharp's threads) or aligned (JS) while another
 * is in onnxruntime, so both cores stay busy; more only queue behind each other.
 */
const PHOTOS_IN_FLIGHT = 2;

/** Embeds every view of every photo once, reusing cached embeddings of unchanged files; photos flow through in order. */
export async function embedPhotos(photos: Photo[], split: GalleryEntry['split'], ctx: EmbedContext): Promise<GalleryEntry[]> {
  const entries: GalleryEntry[] = [];
  const embedOne = async (photo: Photo): Promise<GalleryEntry | FacetrainError> => {
    try {
      const bytes = await (ctx.readBytes ?? readPhoto)(photo.file);
      const hash = hashBytes(bytes);
      const cached = ctx.cache.get(hash);
      const entry = cached && cached.views.length >= ctx.views ? cached : await embedPhoto(photo, bytes, hash, split, ctx);
      return { ...entry, person: photo.person, file: path.basename(photo.file), split, views: entry.views.slice(0, ctx.views) };
    } catch (err) {
      if (!(err instanceof FacetrainError)) throw err;
      return err;
    }
  };
  await mapInOrder(photos, PHOTOS_IN_FLIGHT, embedOne, (result, i) => {
    if (result instanceof FacetrainError) ctx.onSkip({ file: photos[i]!.file, reason: skipReason(result, photos[i]!.file) });
    else entries.push(result);
    ctx.onProgress?.();
  });
  return entries;
}

/** View-major rows (view v of photo p at v * photos + p), as the training loop reads them. */
function embeddingMatrix(entries: GalleryEntry[], views: number): tf.Tensor2D {
  const dims = decodeVector(entries[0]!.views[0]!).length;
  const data = new Float32Array(views * entries.length * dims);
  for (let v = 0; v < views; v++) entries.forEach((e, p) => data.set(decodeVector(e.views[v]!), (v * entries.length + p) * dims));
  return tf.tensor2d(data, [views * entries.length, dims]);
}

/** Trains Dropout -> Dense(N, softmax) on frozen face embeddings with Adam. */
export async function trainEmbeddingHead(
  train: GalleryEntry[],
  val: GalleryEntry[],
  people: string[],
  config: Pick<TrainConfig, 'epochs' | 'learningRate' | 'batchSize' | 'seed' | 'dropout'>,
  emit: EventSink,
): Promise<{ head: tfl.Sequential; history: { phases: { name: string; epochs: EpochMetrics[] }[] } }> {
  const classOf = new Map(people.map((p, i) => [p, i]));
  const views = Math.min(...train.map((e) => e.views.length));
  const data = (entries: GalleryEntry[], v: number): PhaseData => ({ inputs: [embeddingMatrix(entries, v)], labels: entries.map((e) => classOf.get(e.person)!), views: v });
  const trainData = data(train, views);
  const valData = val.length > 0 ? data(val, 1) : undefined;
  const head = buildEmbeddingHead({ numClasses: people.length, inputShape: [trainData.inputs[0]!.shape[1]!], dropout: config.dropout, seed: config.seed });
  const epochs = await runTfjsPhase({
    name: 'head',
    train: trainData,
    val: valData,
    numClasses: people.length,
    forward: ([x], seed) => applyHead(head, x!, seed),
    variables: variablesOf(head.trainableWeights),
    learningRate: config.learningRate,
    epochs: config.epochs,
    batchSize: config.batchSize,
    seed: config.seed,
    onBatch: (b) => emit({ type: 'batch', phase: 'head', epochs: config.epochs, ...b }),
    onEpoch: (m) => emit({ type: 'epoch', phase: 'head', epochs: config.epochs, ...m }),
  });
  tf.dispose([...trainData.inputs, ...(valData?.inputs ?? [])]);
  return { head, history: { phases: [{ name: 'head', epochs }] } };
}
