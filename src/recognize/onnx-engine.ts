import { availableParallelism } from 'node:os';
import type * as tfl from '@tensorflow/tfjs-layers';
import type * as Ort from 'onnxruntime-node';
import type { FaceEmbedder } from '../base/faceres.js';
import { FACERES_EMBEDDING_OUTPUT } from '../base/faceres.js';
import { exportModel } from '../export/export-model.js';
import { irFromGraphEmbedding } from '../export/from-graph.js';
import { irToOnnx } from '../export/onnx.js';
import { optimizeIr } from '../export/optimize.js';
import type { RgbImage } from '../image/decode.js';
import { normalisedPixels } from '../image/normalise.js';
import { perChannelInput, type ModelManifest } from '../model/manifest.js';
import { classifyEmbeddings, type Classification, type FaceClassifier } from './classifier.js';

export type EngineName = 'tfjs' | 'onnx';

/** onnxruntime-node when it is installed and loads (it ships a native binary), else undefined. */
export async function loadOnnxRuntime(): Promise<typeof Ort | undefined> {
  try {
    return await import('onnxruntime-node');
  } catch {
    return undefined;
  }
}

function normalisedBatch(ort: typeof Ort, crops: RgbImage[], mean: number, std: number): Ort.Tensor {
  const size = crops[0]!.width;
  return new ort.Tensor('float32', normalisedPixels(crops, mean, std), [crops.length, size, size, 3]);
}

async function session(ort: typeof Ort, bytes: Uint8Array): Promise<Ort.InferenceSession> {
  // both cores: onnxruntime threads inside one native session
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: availableParallelism(), graphOptimizationLevel: 'all' });
}

/** Frees the native session once; onnxruntime throws on a second release. */
function releaser(s: Ort.InferenceSession): () => void {
  let released = false;
  return () => {
    if (!released) void s.release().catch(() => undefined);
    released = true;
  };
}

async function runSession(s: Ort.InferenceSession, input: Ort.Tensor): Promise<Float32Array> {
  const out = await s.run({ [s.inputNames[0]!]: input });
  return out[s.outputNames[0]!]!.data as Float32Array;
}

function rows(data: Float32Array, count: number): Float32Array[] {
  const width = data.length / count;
  return Array.from({ length: count }, (_, i) => data.slice(i * width, (i + 1) * width));
}

/**
 * The same classifier as the TF.js one, with the heavy network run by onnxruntime: the model is
 * converted to ONNX in memory when loaded (the head of an embedding model stays on TF.js: it is tiny).
 */
export async function onnxClassifier(
  ort: typeof Ort,
  manifest: ModelManifest,
  model: tfl.LayersModel,
  embedding?: { embedder: FaceEmbedder; centroids: Float32Array[] },
): Promise<FaceClassifier> {
  const { size, mean, std } = manifest.input;
  if (!embedding) {
    const bytes = await exportModel({ model, labels: manifest.labels, input: perChannelInput(manifest.input) }, 'onnx');
    const s = await session(ort, bytes);
    const release = releaser(s);
    return {
      inputSize: size,
      async classify(crops): Promise<Classification[]> {
        if (crops.length === 0) return [];
        return rows(await runSession(s, normalisedBatch(ort, crops, mean, std)), crops.length).map((probs) => ({ probs, score: Math.max(...probs) }));
      },
      dispose: () => {
        release();
        model.dispose();
      },
    };
  }
  const ir = optimizeIr(irFromGraphEmbedding(embedding.embedder.model, FACERES_EMBEDDING_OUTPUT, 'ONNX'));
  const s = await session(ort, irToOnnx(ir, { metadata: {}, producerVersion: '0', name: 'faceres-embedding' }));
  const release = releaser(s);
  return {
    inputSize: embedding.embedder.inputSize,
    async classify(crops) {
      if (crops.length === 0) return [];
      const embeddings = rows(await runSession(s, normalisedBatch(ort, crops, mean, std)), crops.length);
      return classifyEmbeddings(model, embedding.centroids, embeddings);
    },
    dispose: () => {
      release();
      embedding.embedder.dispose();
      model.dispose();
    },
  };
}
