import type { RgbImage } from '../image/decode.js';
import { loadOnnxRuntime } from '../runtime/onnxruntime.js';
import { SECOND_CORE_SESSION, type StartTask } from '../runtime/second-core.js';
import { BlazeFaceSessions, type BlazeFaceModels } from './blazeface-sessions.js';
import { detectInViewsOnnx, type DetectedFace, type View } from './blazeface-views.js';

export interface DetectViewsTaskData {
  models: BlazeFaceModels;
}

export interface DetectViewsRequest {
  image: RgbImage;
  views: View[];
  minScore: number;
}

export type DetectViewsReply = DetectedFace[][];

/** Some of an image's detector views on the second core, with the caller's model and options: the same faces to the bit. */
export const startTask: StartTask<DetectViewsTaskData, DetectViewsRequest, DetectViewsReply> = async ({ models }) => {
  const session = await BlazeFaceSessions.open((await loadOnnxRuntime())!, models, SECOND_CORE_SESSION);
  return async ({ image, views, minScore }) => ({ reply: await detectInViewsOnnx(session, image, views, minScore) });
};
