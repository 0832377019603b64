import type * as tfl from '@tensorflow/tfjs-layers';
import { FACERES_EMBEDDING_OUTPUT, loadFaceRes, type FaceEmbedder, type FaceResEmbedder } from '../base/faceres.js';
import { irSession, layersModelSession, runtimeFor, type EngineName, type OnnxRuntime, type OnnxSession } from '../engine/onnxruntime.js';
import { irFromGraphEmbedding } from '../export/from-graph.js';
import { resizeSquare, type RgbImage } from '../image/decode.js';
import { normalisedPixels } from '../image/normalise.js';
import type { ModelManifest } from '../model/manifest.js';
import { splitRows, type Classification, type FaceClassifier } from './classifier.js';

async function runBatch(session: OnnxSession, crops: RgbImage[], mean: number, std: number): Promise<Float32Array[]> {
  const size = crops[0]!.width;
  const [out] = await session.run(normalisedPixels(crops, mean, std), [crops.length, size, size, 3]);
  return splitRows(out!, out!.length / crops.length);
}

/**
 * The classic classifier with the network run by onnxruntime: the model is converted to ONNX in
 * memory when loaded.
 */
export async function onnxClassicClassifier(ort: OnnxRuntime, manifest: ModelManifest, model: tfl.LayersModel): Promise<FaceClassifier> {
  const { size, mean, std } = manifest.input;
  const session = await layersModelSession(ort, model);
  return {
    inputSize: size,
    async classify(crops): Promise<Classification[]> {
      if (crops.length === 0) return [];
      return (await runBatch(session, crops, mean, std)).map((probs) => ({ probs, score: Math.max(...probs) }));
    },
    dispose: () => {
      session.release();
      model.dispose();
    },
  };
}

/** FaceRes run by onnxruntime (converted in memory, L2 normalisation included): the same embeddings, about 3x sooner. */
export async function onnxFaceEmbedder(ort: OnnxRuntime, embedder: FaceResEmbedder): Promise<FaceEmbedder> {
  const session = await irSession(ort, irFromGraphEmbedding(embedder.model, FACERES_EMBEDDING_OUTPUT, 'ONNX'), 'faceres-embedding');
  const { scale, offset } = embedder.normalisation;
  return {
    ...embedder,
    async embed(faces) {
      if (faces.length === 0) return [];
      const sized = await Promise.all(faces.map((face) => resizeSquare(face, embedder.inputSize)));
      // value = pixel * scale + offset, i.e. (pixel - mean) / std
      return runBatch(session, sized, -offset / scale, 1 / scale);
    },
    dispose: () => {
      session.release();
      embedder.dispose();
    },
  };
}

/** FaceRes on the chosen engine (default: onnxruntime when installed). */
export async function loadFaceEmbedder(engine?: EngineName): Promise<FaceEmbedder> {
  const ort = await runtimeFor(engine);
  const embedder = await loadFaceRes();
  return ort ? onnxFaceEmbedder(ort, embedder) : embedder;
}
