import type { Cropper } from '../dataset/prepare.js';
import { FacetrainError } from '../util/errors.js';
import { alignFace, type AlignConfig } from './align.js';
import type { FaceDetector } from './detect.js';

/** Training crops: the largest face in the photo, aligned; a photo without a face is skipped with this reason. */
export function largestFaceCropper(detector: FaceDetector, size: number, align?: Partial<AlignConfig>): Cropper {
  return async (image, file) => {
    const faces = await detector.detect(image);
    if (faces.length === 0) throw new FacetrainError('FT_ERR_IMAGE', `${file}: no face found; use a photo where the face is visible, or train with --no-detect`);
    return { crop: await alignFace(image, faces[0]!, size, align), faces: faces.length };
  };
}
