import * as tfl from '@tensorflow/tfjs-layers';
import type { HeadArgs } from '../../train/head.js';
import { childSeed } from '../../util/random.js';

export interface ClassicHeadArgs extends HeadArgs {
  filters?: number;
}

/** The tutorial's head: Conv2D(32, 3x3, relu) -> Dropout(0.2) -> GlobalAveragePooling2D -> Dense(N, softmax). */
export function buildClassicHead({ numClasses, inputShape, filters = 32, dropout = 0.2, seed }: ClassicHeadArgs): tfl.Sequential {
  const head = tfl.sequential({ name: 'head' });
  head.add(tfl.layers.conv2d({ name: 'head_conv2d', inputShape, filters, kernelSize: 3, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: childSeed(seed, 'head_conv2d') }) }));
  head.add(tfl.layers.dropout({ name: 'head_dropout', rate: dropout }));
  head.add(tfl.layers.globalAveragePooling2d({ name: 'head_global_average_pooling2d' }));
  head.add(tfl.layers.dense({ name: 'head_dense', units: numClasses, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: childSeed(seed, 'head_dense') }) }));
  return head;
}
