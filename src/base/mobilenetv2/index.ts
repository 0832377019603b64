import type { ClassifierBaseRow } from '../row.js';
import { MOBILENET_V2_NORMALIZATION } from './mobilenetv2.js';
import { MOBILENET_V2_ALPHAS } from './official-weights.js';
import { trainClassic } from './recipe.js';

/** ImageNet MobileNetV2 with the tutorial's head, fine-tuned from `fineTuneAt` (the classic recipe). */
export const MOBILENETV2_BASE: ClassifierBaseRow = Object.freeze<ClassifierBaseRow>({
  kind: 'classifier',
  normalisation: MOBILENET_V2_NORMALIZATION,
  manifestEntry: (config) => ({ name: 'mobilenetv2', alpha: config.alpha, fineTuneAt: config.fineTuneAt, layerLayout: 'keras-2.0-with-Conv1_pad-155' }),
  describe: (config) => `mobilenetv2 alpha ${config.alpha}`,
  alphas: MOBILENET_V2_ALPHAS,
  train: trainClassic,
});
