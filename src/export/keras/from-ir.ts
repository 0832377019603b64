import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type IrGraph, type IrOp, soleOutput, unsupported } from '../../graph/ir.js';
import { UnitNormalization } from './unit-normalization.js';

const FORMAT = 'Keras .h5';

/** Keras layer names become HDF5 group names: keep them to one path segment of plain characters. */
function kerasName(irName: string, used: Set<string>): string {
  const base = irName.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '') || 'layer';
  let name = base;
  for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
  used.add(name);
  return name;
}

interface Built {
  layer: tfl.layers.Layer;
  weights: tf.Tensor[];
}

function activationLayers(kind: 'none' | 'relu' | 'relu6', name: string): tfl.layers.Layer[] {
  return kind === 'relu6' ? [tfl.layers.reLU({ name: `${name}_relu6`, maxValue: 6 })] : [];
}

/** The Keras layer for one IR op, with the weights to set once it is built. */
function layerFor(op: IrOp, name: string): Built {
  switch (op.kind) {
    case 'pad': {
      const [top, bottom, left, right] = op.pads;
      return { layer: tfl.layers.zeroPadding2d({ name, padding: [[top, bottom], [left, right]] }), weights: [] };
    }
    case 'conv2d':
    case 'depthwiseConv2d': {
      const [kh, kw, , last] = op.filter.shape as [number, number, number, number];
      const args = {
        name, kernelSize: [kh, kw] as [number, number], strides: op.strides, dilationRate: op.dilations, padding: op.padding, useBias: true,
        activation: op.activation === 'relu' ? ('relu' as const) : ('linear' as const),
      };
      const layer = op.kind === 'conv2d' ? tfl.layers.conv2d({ ...args, filters: last }) : tfl.layers.depthwiseConv2d({ ...args, depthMultiplier: last });
      return { layer, weights: [tf.tensor(op.filter.data, op.filter.shape), tf.tensor1d(op.bias)] };
    }
    case 'dense': {
      const units = op.kernel.shape[1]!;
      return { layer: tfl.layers.dense({ name, units, activation: op.activation === 'relu' ? 'relu' : 'linear' }), weights: [tf.tensor(op.kernel.data, op.kernel.shape), tf.tensor1d(op.bias)] };
    }
    case 'affine': {
      // x * scale + offset as an inference BatchNormalization: mean 0, variance + epsilon = 1
      const epsilon = 1e-3;
      const channels = op.scale.length;
      const weights = [tf.tensor1d(op.scale), tf.tensor1d(op.offset), tf.zeros([channels]), tf.fill([channels], 1 - epsilon)];
      return { layer: tfl.layers.batchNormalization({ name, epsilon }), weights };
    }
    case 'clip':
      if (op.min !== 0 || !(op.max === Infinity || op.max === 6)) throw unsupported(`a clip to [${op.min}, ${op.max}] (${op.output})`, FORMAT);
      return { layer: tfl.layers.reLU({ name, ...(op.max === 6 ? { maxValue: 6 } : {}) }), weights: [] };
    case 'add':
      return { layer: tfl.layers.add({ name }), weights: [] };
    case 'globalAveragePool':
      return { layer: tfl.layers.globalAveragePooling2d({ name }), weights: [] };
    case 'flatten':
      return { layer: tfl.layers.flatten({ name }), weights: [] };
    case 'softmax':
      return { layer: tfl.layers.softmax({ name }), weights: [] };
    case 'sigmoid':
      return { layer: tfl.layers.activation({ name, activation: 'sigmoid' }), weights: [] };
    case 'l2Normalize':
      return { layer: new UnitNormalization({ name }), weights: [] };
    case 'groupMax':
    case 'pickAtArgMax':
      throw unsupported(`the template match of the unknown decision (${op.output})`, FORMAT);
    case 'prelu':
    case 'mirrorWidth':
      throw unsupported(`IR op ${op.kind} (${op.output})`, FORMAT);
  }
}

/**
 * A Keras functional model of built-in layers (plus UnitNormalization, Keras >= 2.9) computing the
 * same as an IR graph: how a recognizer that is not a Keras model (FaceRes is a TF graph) gets a
 * Keras .h5. Weights are set; the caller disposes the model.
 */
export function irToLayersModel(graph: IrGraph, name: string): tfl.LayersModel {
  const used = new Set<string>();
  const input = tfl.input({ name: kerasName(graph.input.name, used), shape: graph.input.shape.slice(1) });
  const values = new Map<string, tfl.SymbolicTensor>([[graph.input.name, input]]);
  const get = (irName: string): tfl.SymbolicTensor => values.get(irName)!;
  const pending: Built[] = [];
  for (const op of graph.ops) {
    const built = layerFor(op, kerasName(op.output, used));
    const args = 'inputs' in op ? op.inputs.map(get) : get(op.input);
    let out = built.layer.apply(args) as tfl.SymbolicTensor;
    pending.push(built);
    const activation = 'activation' in op ? op.activation : 'none';
    for (const extra of activationLayers(activation, built.layer.name)) out = extra.apply(out) as tfl.SymbolicTensor;
    values.set(op.output, out);
  }
  const model = tfl.model({ name, inputs: input, outputs: get(soleOutput(graph)) });
  for (const { layer, weights } of pending) {
    if (weights.length > 0) layer.setWeights(weights);
    tf.dispose(weights);
  }
  return model;
}
