import sharp from 'sharp';
import { readImageBytes, readImageFile, type RgbImage } from '../image/decode.js';
import type { Box } from '../faces/geometry.js';
import type { FaceResult, Recognizer } from '../recognize/recognizer.js';
import type { SkippedPhoto } from '../events.js';
import { FacetrainError } from '../errors.js';
import { mapInOrder } from '../util/pipeline.js';
import { decide } from '../evaluate/metrics.js';
import { UNKNOWN_LABEL, type EvalSample } from '../evaluate/types.js';

export interface LabelledPhoto {
  file: string;
  /** The person in the photo, or null for someone the model was not trained on. */
  person: string | null;
}

const THUMBNAIL_SIZE = 96;

async function thumbnail(image: RgbImage, box: Box): Promise<string> {
  const left = Math.max(0, Math.floor(box.x));
  const top = Math.max(0, Math.floor(box.y));
  const width = Math.max(1, Math.min(image.width - left, Math.round(box.width)));
  const height = Math.max(1, Math.min(image.height - top, Math.round(box.height)));
  const jpeg = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .extract({ left, top, width, height })
    .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'cover' })
    .jpeg({ quality: 70 })
    .toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}

const faceBoxes = new WeakMap<EvalSample, Box>();

/** A photo's sample from the face that stands for it (its largest; undefined when none was found), before any threshold. */
export function photoSample(photo: LabelledPhoto, face: Pick<FaceResult, 'box' | 'score' | 'topK'> | undefined, ms?: number): EvalSample {
  if (!face) return { file: photo.file, truth: photo.person, predicted: UNKNOWN_LABEL, score: 0, faceFound: false, ms };
  const sample: EvalSample = { file: photo.file, truth: photo.person, predicted: face.topK[0]!.label, score: face.score, topK: face.topK, faceFound: true, ms };
  faceBoxes.set(sample, face.box);
  return sample;
}

/**
 * Runs the recognizer on labelled photos. The score is the top candidate's, before any threshold,
 * so thresholds can be calibrated and swept afterwards; the largest face stands for the photo.
 * Photos that cannot be read or recognized (corrupt, 1x1) are passed to `onSkip` with the reason,
 * as training does, instead of stopping the run.
 */
export async function predictSamples(recognizer: Recognizer, photos: LabelledPhoto[], onProgress?: (done: number) => void, onSkip?: (skipped: SkippedPhoto) => void): Promise<EvalSample[]> {
  const samples: EvalSample[] = [];
  // Two photos in flight, results in order: decoding overlaps the other photo's inference.
  const recognize = async (photo: LabelledPhoto) => {
    const bytes = await readImageBytes(photo.file);
    const started = performance.now();
    const [face] = await recognizer.predict(bytes, { topK: 3, threshold: 0, label: photo.file });
    return { face, ms: performance.now() - started };
  };
  await mapInOrder(photos, 2, (photo) => recognize(photo).catch((err: unknown) => {
    // unreadable or unusable photos (corrupt, 1x1) are reported with the reason and left out; other errors stop the run
    if (!(err instanceof FacetrainError)) throw err;
    onSkip?.({ file: photo.file, reason: err.message });
    return undefined;
  }), (result, i) => {
    if (result) samples.push(photoSample(photos[i]!, result.face, result.ms));
    onProgress?.(i + 1);
  });
  return samples;
}

/** Adds face thumbnails to the samples the model gets wrong or rejects at `threshold`, for the report. */
export async function attachThumbnails(samples: EvalSample[], threshold: number): Promise<void> {
  for (const sample of samples) {
    const box = faceBoxes.get(sample);
    if (!box || decide(sample, threshold) === (sample.truth ?? UNKNOWN_LABEL)) continue;
    sample.thumbnail = await thumbnail(await readImageFile(sample.file), box);
  }
}

/** Scores of known photos the model named correctly: what the threshold must keep. */
export function correctKnownScores(samples: EvalSample[]): number[] {
  return samples.filter((s) => s.faceFound && s.truth !== null && s.predicted === s.truth).map((s) => s.score);
}
