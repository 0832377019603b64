import sharp from 'sharp';
import { readImageBytes, readImageFile, type RgbImage } from '../image/decode.js';
import type { Box } from '../faces/geometry.js';
import type { Recognizer } from '../recognize/recognizer.js';
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

/**
 * Runs the recognizer on labelled photos. The score is the top candidate's, before any threshold,
 * so thresholds can be calibrated and swept afterwards; the largest face stands for the photo.
 */
export async function predictSamples(recognizer: Recognizer, photos: LabelledPhoto[], onProgress?: (done: number) => void): Promise<EvalSample[]> {
  const samples: EvalSample[] = [];
  // Two photos in flight, results in order: decoding overlaps the other photo's inference.
  const recognize = async (photo: LabelledPhoto) => {
    const bytes = await readImageBytes(photo.file);
    const started = performance.now();
    const [face] = await recognizer.predict(bytes, { topK: 3, threshold: 0, label: photo.file });
    return { face, ms: performance.now() - started };
  };
  await mapInOrder(photos, 2, (photo) => recognize(photo).catch((err: unknown) => {
    // unreadable photos are left out, as before; other errors (e.g. a 1x1 photo) stop the run
    if (err instanceof FacetrainError && err.code === 'FT_ERR_IMAGE') return undefined;
    throw err;
  }), (result, i) => {
    const photo = photos[i]!;
    if (result) {
      const { face, ms } = result;
      if (face) {
        const sample: EvalSample = { file: photo.file, truth: photo.person, predicted: face.topK[0]!.label, score: face.score, topK: face.topK, faceFound: true, ms };
        faceBoxes.set(sample, face.box);
        samples.push(sample);
      } else {
        samples.push({ file: photo.file, truth: photo.person, predicted: UNKNOWN_LABEL, score: 0, faceFound: false, ms });
      }
    }
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
