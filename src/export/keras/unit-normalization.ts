import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { L2_EPSILON } from '../../graph/ir.js';

/**
 * Keras' UnitNormalization (keras >= 2.9: x / sqrt(max(sum(x^2), 1e-12)) over the last axis), which
 * tfjs-layers lacks. Registered under the Keras class name so .h5 files that use it load in both.
 */
export class UnitNormalization extends tfl.layers.Layer {
  static readonly className = 'UnitNormalization';

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.tidy(() => tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), -1, true), L2_EPSILON))));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), axis: -1 };
  }
}

tf.serialization.registerClass(UnitNormalization);
