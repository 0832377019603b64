import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type IrGraph, type IrOp, unsupported } from '../../graph/ir.js';
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

/** The image mirrored left-right in built-in layers: width moved last, a Dense whose kernel reverses it, moved back (exact: one product by 1 per value). */
function mirrorLayers(name: string, [, , width]: number[]): Built[] {
  const reversal = new Float32Array(width! * width!);
  for (let j = 0; j < width!; j++) reversal[(width! - 1 - j) * width! + j] = 1;
  return [
    { layer: tfl.layers.permute({ name: `${name}_width_last`, dims: [1, 3, 2] }), weights: [] },
    { layer: tfl.layers.dense({ name, units: width!, useBias: false }), weights: [tf.tensor2d(reversal, [width!, width!])] },
    { layer: tfl.layers.permute({ name: `${name}_width_back`, dims: [1, 3, 2] }), weights: [] },
  ];
}

/** Keras layers for one IR op in order (most ops are one layer), with the weights to set once they are built. */
function layersFor(op: IrOp, name: string, inputShape: number[]): Built[] {
  switch (op.kind) {
    case 'prelu': {
      // one slope per channel, shared over height and width as Keras' PReLU(shared_axes=[1, 2])
      const spatial = inputShape.length === 4;
      const alpha = spatial ? tf.tensor3d(op.slope, [1, 1, op.slope.length]) : tf.tensor1d(op.slope);
      return [{ layer: tfl.layers.prelu({ name, ...(spatial ? { sharedAxes: [1, 2] } : {}) }), weights: [alpha] }];
    }
    case 'mirrorWidth':
      return mirrorLayers(name, inputShape);
    case 'groupMax': {
      // [people * k] -> [people, k] -> [k, people] -> the maximum over k
      const columns = inputShape[1]!;
      return [
        { layer: tfl.layers.reshape({ name: `${name}_grouped`, targetShape: [op.groups, columns / op.groups] }), weights: [] },
        { layer: tfl.layers.permute({ name: `${name}_group_last`, dims: [2, 1] }), weights: [] },
        { layer: tfl.layers.globalMaxPooling1d({ name }), weights: [] },
      ];
    }
    default:
      return [layerFor(op, name)];
  }
}

/** The Keras layer for one IR op that is a single built-in layer, with the weights to set once it is built. */
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
    case 'pickAtArgMax':
      throw unsupported(`the pick of the head's person's score (${op.output}); leave the score output out`, FORMAT);
    case 'prelu':
    case 'mirrorWidth':
    case 'groupMax':
      throw new Error(`internal error: IR op ${op.kind} is written by layersFor`);
  }
}

/**
 * A Keras functional model of built-in layers (plus UnitNormalization, Keras >= 2.9) computing the
 * same as an IR graph, its outputs in the graph's order: how a recognizer that is not a Keras model
 * (FaceRes is a TF graph, MobileFaceNet a TFLite file) gets a Keras .h5. Weights are set; the
 * caller disposes the model.
 */
export function irToLayersModel(graph: IrGraph, name: string): tfl.LayersModel {
  const used = new Set<string>();
  const input = tfl.input({ name: kerasName(graph.input.name, used), shape: graph.input.shape.slice(1) });
  const values = new Map<string, tfl.SymbolicTensor>([[graph.input.name, input]]);
  const get = (irName: string): tfl.SymbolicTensor => values.get(irName)!;
  const pending: Built[] = [];
  for (const op of graph.ops) {
    const chain = layersFor(op, kerasName(op.output, used), graph.shapes.get('inputs' in op ? op.inputs[0] : op.input) ?? []);
    let out: tfl.SymbolicTensor | tfl.SymbolicTensor[] = 'inputs' in op ? op.inputs.map(get) : get(op.input);
    for (const built of chain) {
      out = built.layer.apply(out) as tfl.SymbolicTensor;
      pending.push(built);
    }
    const activation = 'activation' in op ? op.activation : 'none';
    for (const extra of activationLayers(activation, chain.at(-1)!.layer.name)) out = extra.apply(out) as tfl.SymbolicTensor;
    values.set(op.output, out as tfl.SymbolicTensor);
  }
  const outputs = graph.outputs.map(get);
  const model = tfl.model({ name, inputs: input, outputs: outputs.length === 1 ? outputs[0]! : outputs });
  for (const { layer, weights } of pending) {
    if (weights.length > 0) layer.setWeights(weights);
    tf.dispose(weights);
  }
  return model;
}
