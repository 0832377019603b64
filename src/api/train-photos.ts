import { FacetrainError } from '../errors.js';
import type { FacePipeline } from '../recognize/face-pipeline.js';
import { facesAsSeen } from '../recognize/recognizer.js';
import { croppedPhotoEmbedder, type EmbedOnePhoto } from '../train/embedding.js';

/**
 * How training embeds a photo with one face pipeline. Training photos: the whole decode, its
 * largest face aligned, every augmented view. Validation photos: decoded and cropped exactly as
 * `predict` does (shrunk on load for the search, a finer decode for a small face), so validation
 * names them from these embeddings instead of running the recognizer on them again.
 */
export function trainingPhotoEmbedder(pipeline: FacePipeline): EmbedOnePhoto {
  const train = croppedPhotoEmbedder(pipeline.embedder, pipeline.cropper);
  const detector = pipeline.input.crop === 'aligned-face' ? pipeline.detector : undefined;
  return async (job) => {
    if (job.split === 'train') return train(job);
    const started = performance.now();
    const faces = await facesAsSeen(job.bytes, pipeline.input, detector, pipeline.aligner, { label: job.file, maxPixels: job.maxPixels });
    // the same refusal as a training photo without a face: validation photos are skipped like them
    if (faces.length === 0) throw new FacetrainError('FT_ERR_IMAGE', `${job.file}: no face found; use a photo where the face is visible, or train on whole photos (face detection off)`);
    const [embedding] = await pipeline.embedder.embed([faces[0]!.crop]);
    return { faces: faces.length, views: [embedding!], box: faces[0]!.box, ms: performance.now() - started };
  };
}
