import { createRequire } from 'node:module';
import path from 'node:path';
import type { RgbImage } from '../src/image/decode.js';
import { initEngine } from '../src/tfjs/backend.js';

/** What face-api returns per face from `withFaceDescriptors()`. */
export interface FaceApiFace {
  detection: { box: { x: number; y: number; width: number; height: number }; score: number };
  /** 128 values (dlib's ResNet descriptor), compared by Euclidean distance. */
  descriptor: Float32Array;
}

export interface FaceApiMatch {
  label: string;
  distance: number;
}

/** The part of @vladmandic/face-api the benches call (its node-wasm build ships its own types, but as CommonJS). */
export interface FaceApi {
  nets: Record<'ssdMobilenetv1' | 'faceLandmark68Net' | 'faceRecognitionNet', { loadFromDisk(dir: string): Promise<void> }>;
  tf: { tensor3d(data: Uint8Array, shape: number[], dtype: string): { dispose(): void } };
  detectAllFaces(input: unknown): { withFaceLandmarks(): { withFaceDescriptors(): Promise<FaceApiFace[]> } };
  LabeledFaceDescriptors: new (label: string, descriptors: Float32Array[]) => unknown;
  /** Each person's score is the mean distance to their descriptors; `findBestMatch` says `unknown` at or above the threshold (0.6 by default). */
  FaceMatcher: new (people: unknown[], distanceThreshold?: number) => { matchDescriptor(d: Float32Array): FaceApiMatch; findBestMatch(d: Float32Array): FaceApiMatch };
}

/** The version the package.json pins (recorded with cached descriptors). */
export const FACE_API_VERSION = '1.7.15';

/**
 * face-api on TF.js (wasm) with its own pipeline loaded (SSD MobileNetV1 detector, 68 landmarks,
 * the 128-d descriptor), from the model files shipped in the package.
 */
export async function loadFaceApiModels(): Promise<FaceApi> {
  // face-api runs on the process's TF.js (the shared tfjs-core), set up as facetrain sets it up
  await initEngine();
  const require = createRequire(import.meta.url);
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
  const dir = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
  for (const net of ['ssdMobilenetv1', 'faceLandmark68Net', 'faceRecognitionNet'] as const) await faceapi.nets[net].loadFromDisk(dir);
  return faceapi;
}

/** Every face face-api finds in a decoded RGB image, with its descriptor. */
export async function faceApiFaces(faceapi: FaceApi, image: RgbImage): Promise<FaceApiFace[]> {
  const input = faceapi.tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
  try {
    return await faceapi.detectAllFaces(input).withFaceLandmarks().withFaceDescriptors();
  } finally {
    input.dispose();
  }
}
