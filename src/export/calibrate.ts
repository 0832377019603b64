import * as tf from '@tensorflow/tfjs-core';
import { evaluateIr } from './evaluate.js';
import type { IrGraph } from './ir.js';

/** [min, max] seen for every IR tensor over the representative inputs. */
export type ActivationRanges = Map<string, [number, number]>;

/** Runs the float IR one sample at a time (bounded memory) and records each tensor's range. */
export function calibrate(graph: IrGraph, inputs: tf.Tensor4D): ActivationRanges {
  const ranges: ActivationRanges = new Map();
  for (let i = 0; i < inputs.shape[0]; i++) {
    tf.tidy(() => {
      const sample = tf.slice(inputs, [i, 0, 0, 0], [1, -1, -1, -1]);
      evaluateIr(graph, sample, (name, value) => {
        const min = tf.min(value).dataSync()[0];
        const max = tf.max(value).dataSync()[0];
        const seen = ranges.get(name);
        ranges.set(name, seen ? [Math.min(seen[0], min), Math.max(seen[1], max)] : [min, max]);
      });
    });
  }
  return ranges;
}
