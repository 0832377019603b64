import { wholeImageCropper, type Cropper } from '../dataset/prepare.js';
import type { InputSpec } from './input-spec.js';
import { FacetrainError } from '../errors.js';
import type { RgbImage } from '../image/decode.js';
import type { Runtime } from '../runtime/runtime.js';
import { alignFace } from './align.js';
import { loadFaceDetector, type DetectedFace, type FaceDetector } from './detect.js';
import { loadFivePointLandmarker, type FivePointLandmarker } from './landmarks.js';
import { alignToTemplate } from './template-align.js';
import { loadOnnxRuntime } from '../runtime/onnxruntime.js';

/** Turns a detected face into the aligned crop a model's input spec asks for. */
export interface FaceAligner {
  align(image: RgbImage, face: DetectedFace): Promise<RgbImage>;
  /** The landmark network the crops are aligned by, when there is one (camera streams follow faces with it). */
  readonly landmarker?: FivePointLandmarker;
  dispose(): void;
}

/** The aligned crop of an input spec whose alignment needs no network: eyes placed by `align`, or the template from BlazeFace's points. */
export function alignForInput(input: InputSpec): (image: RgbImage, face: DetectedFace) => Promise<RgbImage> {
  if (input.template === 'arcface-112') return async (image, face) => alignToTemplate(image, face, input.size);
  return (image, face) => alignFace(image, face, input.size, input.align);
}

/** The aligner of an input spec on `runtime` (a landmark network runs on onnxruntime only): the one way every command crops faces for a model. */
export async function loadFaceAligner(input: InputSpec, runtime?: Runtime): Promise<FaceAligner> {
  if (input.template !== 'arcface-112' || !input.landmarks) return { align: alignForInput(input), dispose: () => {} };
  const ort = runtime ? runtime.ort : await loadOnnxRuntime();
  if (!ort) throw new FacetrainError('FT_ERR_UNSUPPORTED', `faces aligned by the ${input.landmarks} landmark network need onnxruntime (engine: ${runtime?.name ?? 'onnxruntime-node did not load'}); install onnxruntime-node or use the onnx engine`);
  const landmarker = await loadFivePointLandmarker(ort);
  return {
    async align(image, face) {
      const [points] = await landmarker.fivePoints(image, [face]);
      return alignToTemplate(image, face, input.size, points);
    },
    landmarker,
    dispose: () => landmarker.dispose(),
  };
}

/** Training crops: the largest face in the photo, aligned; a photo without a face is skipped with this reason. */
export function largestFaceCropper(detector: FaceDetector, aligner: FaceAligner): Cropper {
  return async (image, file) => {
    const faces = await detector.detect(image);
    if (faces.length === 0) throw new FacetrainError('FT_ERR_IMAGE', `${file}: no face found; use a photo where the face is visible, or train on whole photos (face detection off)`);
    return { crop: await aligner.align(image, faces[0]!), faces: faces.length, box: faces[0]!.box };
  };
}

/** A detector (on `runtime`, see loadFaceDetector) when the model was trained on aligned faces; none for whole-photo models. */
export async function detectorFor(input: InputSpec, runtime?: Runtime): Promise<FaceDetector | undefined> {
  return input.crop === 'aligned-face' ? loadFaceDetector({}, runtime) : undefined;
}

/** The crop a model's input spec asks for: the largest face aligned as it was in training, or the whole photo. */
export function cropperFor(input: InputSpec, detector: FaceDetector | undefined, aligner: FaceAligner): Cropper {
  return detector ? largestFaceCropper(detector, aligner) : wholeImageCropper(input.size);
}
