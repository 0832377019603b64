import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { childSeed } from '../util/random.js';

export interface HeadArgs {
  numClasses: number;
  /** Shape of the base output, e.g. [7, 7, 1280] or [1024]. */
  inputShape: number[];
  dropout?: number;
  seed: number;
}

/** Head for an embedding base: Dropout -> Dense(N, softmax). */
export function buildEmbeddingHead({ numClasses, inputShape, dropout = 0.2, seed }: HeadArgs): tfl.Sequential {
  const head = tfl.sequential({ name: 'head' });
  head.add(tfl.layers.dropout({ name: 'head_dropout', inputShape, rate: dropout }));
  head.add(tfl.layers.dense({ name: 'head_dense', units: numClasses, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: childSeed(seed, 'head_dense') }) }));
  return head;
}

/**
 * Applies a head's layers one by one. In training, Dropout gets a per-step seed: tfjs-layers'
 * own Dropout draws from Math.random, which would make `--seed` runs differ.
 */
export function applyHead(head: tfl.LayersModel, x: tf.Tensor, dropoutSeed?: number): tf.Tensor {
  let h = x;
  for (const layer of head.layers) {
    if (layer.getClassName() === 'Dropout') {
      if (dropoutSeed !== undefined) h = tf.dropout(h, (layer.getConfig() as { rate: number }).rate, undefined, dropoutSeed);
    } else {
      h = layer.apply(h) as tf.Tensor;
    }
  }
  return h;
}

/** Connects the head's layers after `output` in a functional graph, sharing their weights. */
export function attachHead(head: tfl.LayersModel, output: tfl.SymbolicTensor): tfl.SymbolicTensor {
  return head.layers.reduce((h, layer) => layer.apply(h) as tfl.SymbolicTensor, output);
}
