import { wholeImageCropper, type Cropper } from '../dataset/prepare.js';
import type { InputSpec } from './input-spec.js';
import { FacetrainError } from '../errors.js';
import type { RgbImage } from '../image/decode.js';
import type { Runtime } from '../runtime/runtime.js';
import { alignFace } from './align.js';
import { loadFaceDetector, type DetectedFace, type FaceDetector } from './detect.js';
import { alignToTemplate } from './template-align.js';

/** Turns a detected face into the aligned crop a model's input spec asks for. */
export interface FaceAligner {
  align(image: RgbImage, face: DetectedFace): Promise<RgbImage>;
  dispose(): void;
}

/** The aligned crop a model's input spec asks for: to its five-point template, or eyes placed by `align`. */
export function alignForInput(input: InputSpec): (image: RgbImage, face: DetectedFace) => Promise<RgbImage> {
  if (input.template === 'arcface-112') return async (image, face) => alignToTemplate(image, face, input.size);
  return (image, face) => alignFace(image, face, input.size, input.align);
}

/** The aligner of an input spec on `runtime`: the one way every command crops faces for a model. */
export async function loadFaceAligner(input: InputSpec, _runtime?: Runtime): Promise<FaceAligner> {
  return { align: alignForInput(input), dispose: () => {} };
}

/** Training crops: the largest face in the photo, aligned; a photo without a face is skipped with this reason. */
export function largestFaceCropper(detector: FaceDetector, aligner: FaceAligner): Cropper {
  return async (image, file) => {
    const faces = await detector.detect(image);
    if (faces.length === 0) throw new FacetrainError('FT_ERR_IMAGE', `${file}: no face found; use a photo where the face is visible, or train with --no-detect`);
    return { crop: await aligner.align(image, faces[0]!), faces: faces.length };
  };
}

/** A detector (on `runtime`, see loadFaceDetector) when the model was trained on aligned faces; none for whole-photo models. */
export async function detectorFor(input: InputSpec, runtime?: Runtime): Promise<FaceDetector | undefined> {
  return input.crop === 'aligned-face' ? loadFaceDetector({}, runtime) : undefined;
}

/** The crop a model's input spec asks for: the largest face aligned as it was in training, or the whole photo. */
export function cropperFor(input: InputSpec, detector: FaceDetector | undefined, aligner: FaceAligner = { align: alignForInput(input), dispose: () => {} }): Cropper {
  return detector ? largestFaceCropper(detector, aligner) : wholeImageCropper(input.size);
}
