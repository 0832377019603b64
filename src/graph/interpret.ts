import * as tf from '@tensorflow/tfjs-core';
import { type IrGraph, type IrOp, L2_EPSILON, soleOutput } from './ir.js';

function activation(kind: 'none' | 'relu' | 'relu6'): 'linear' | 'relu' | 'relu6' {
  return kind === 'none' ? 'linear' : kind;
}

export function evaluateOp(op: IrOp, get: (name: string) => tf.Tensor): tf.Tensor {
  switch (op.kind) {
    case 'pad':
      return tf.pad(get(op.input), [[0, 0], [op.pads[0], op.pads[1]], [op.pads[2], op.pads[3]], [0, 0]]);
    case 'conv2d':
    case 'depthwiseConv2d': {
      const args = {
        x: get(op.input) as tf.Tensor4D,
        filter: tf.tensor4d(op.filter.data, op.filter.shape as [number, number, number, number]),
        strides: op.strides,
        pad: op.padding,
        dilations: op.dilations,
        bias: tf.tensor1d(op.bias),
        activation: activation(op.activation),
      } as const;
      return op.kind === 'conv2d' ? tf.fused.conv2d(args) : tf.fused.depthwiseConv2d(args);
    }
    case 'affine':
      return tf.add(tf.mul(get(op.input), tf.tensor1d(op.scale)), tf.tensor1d(op.offset));
    case 'clip':
      return tf.minimum(tf.maximum(get(op.input), op.min), op.max);
    case 'add':
      return tf.add(get(op.inputs[0]), get(op.inputs[1]));
    case 'globalAveragePool':
      return tf.mean(get(op.input), [1, 2]);
    case 'flatten': {
      const x = get(op.input);
      return tf.reshape(x, [x.shape[0], -1]);
    }
    case 'dense':
      return tf.fused.matMul({
        a: get(op.input) as tf.Tensor2D,
        b: tf.tensor2d(op.kernel.data, op.kernel.shape as [number, number]),
        bias: tf.tensor1d(op.bias),
        activation: activation(op.activation),
      });
    case 'softmax':
      return tf.softmax(get(op.input));
    case 'sigmoid':
      return tf.sigmoid(get(op.input));
    case 'l2Normalize': {
      const x = get(op.input);
      return tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), -1, true), L2_EPSILON)));
    }
    case 'prelu':
      return tf.prelu(get(op.input), tf.tensor1d(op.slope));
    case 'mirrorWidth':
      return tf.reverse(get(op.input), 2);
    case 'groupMax': {
      const x = get(op.input);
      return tf.max(tf.reshape(x, [x.shape[0], op.groups, -1]), 2);
    }
    case 'pickAtArgMax': {
      const [values, keys] = op.inputs.map(get) as [tf.Tensor2D, tf.Tensor2D];
      return tf.sum(tf.mul(values, tf.oneHot(tf.argMax(keys, 1), keys.shape[1])), 1, true);
    }
  }
}

/**
 * Runs the IR with TF.js ops: the reference the emitters are checked against, and the source of
 * activation ranges for int8 calibration (`observe` sees every tensor, input included).
 */
export function evaluateIr(graph: IrGraph, input: tf.Tensor4D, observe?: (name: string, value: tf.Tensor) => void): tf.Tensor {
  return tf.tidy(() => {
    const values = new Map<string, tf.Tensor>([[graph.input.name, input]]);
    observe?.(graph.input.name, input);
    const get = (name: string): tf.Tensor => {
      const value = values.get(name);
      if (!value) throw new Error(`IR tensor ${name} used before it is computed`);
      return value;
    };
    for (const op of graph.ops) {
      const value = evaluateOp(op, get);
      values.set(op.output, value);
      observe?.(op.output, value);
    }
    return get(soleOutput(graph));
  });
}
