import { wholeImageCropper, type Cropper } from '../dataset/prepare.js';
import type { InputSpec } from './input-spec.js';
import { FacetrainError } from '../errors.js';
import { alignFace, type AlignConfig } from './align.js';
import type { Runtime } from '../runtime/runtime.js';
import { loadFaceDetector, type FaceDetector } from './detect.js';

/** Training crops: the largest face in the photo, aligned; a photo without a face is skipped with this reason. */
export function largestFaceCropper(detector: FaceDetector, size: number, align?: Partial<AlignConfig>): Cropper {
  return async (image, file) => {
    const faces = await detector.detect(image);
    if (faces.length === 0) throw new FacetrainError('FT_ERR_IMAGE', `${file}: no face found; use a photo where the face is visible, or train with --no-detect`);
    return { crop: await alignFace(image, faces[0]!, size, align), faces: faces.length };
  };
}

/** A detector (on `runtime`, see loadFaceDetector) when the model was trained on aligned faces; none for whole-photo models. */
export async function detectorFor(input: InputSpec, runtime?: Runtime): Promise<FaceDetector | undefined> {
  return input.crop === 'aligned-face' ? loadFaceDetector({}, runtime) : undefined;
}

/** The crop a model's input spec asks for: the largest face aligned as it was in training, or the whole photo. */
export function cropperFor(input: InputSpec, detector: FaceDetector | undefined): Cropper {
  return detector ? largestFaceCropper(detector, input.size, input.align) : wholeImageCropper(input.size);
}
