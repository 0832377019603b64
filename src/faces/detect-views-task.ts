import type { RgbImage } from '../image/decode.js';
import { loadOnnxRuntime } from '../runtime/onnxruntime.js';
import { SECOND_CORE_SESSION, type StartTask } from '../runtime/second-core.js';
import { BlazeFaceSessions } from './blazeface-sessions.js';
import { detectInViewsOnnx, type DetectedFace, type View } from './blazeface-views.js';

/** BlazeFace's ONNX bytes: the square views' model, and the any-size one for the frame views of streams. */
export interface DetectViewsTaskData {
  square: Uint8Array;
  anySize: Uint8Array;
}

export interface DetectViewsRequest {
  image: RgbImage;
  views: View[];
  minScore: number;
}

export type DetectViewsReply = DetectedFace[][];

/** Some of an image's detector views on the second core, with the caller's model and options: the same faces to the bit. */
export const startTask: StartTask<DetectViewsTaskData, DetectViewsRequest, DetectViewsReply> = async ({ square, anySize }) => {
  const session = await BlazeFaceSessions.open((await loadOnnxRuntime())!, square, () => Promise.resolve(anySize), SECOND_CORE_SESSION);
  return async ({ image, views, minScore }) => ({ reply: await detectInViewsOnnx(session, image, views, minScore) });
};
