import type * as tfl from '@tensorflow/tfjs-layers';
import { walkModel } from './layer-graph.js';
import { type ConstTensor, type FusedActivation, IrBuilder, type IrGraph, unsupported } from './ir.js';

type Layer = tfl.layers.Layer;
type Config = Record<string, unknown>;

function constant(tensor: { shape: number[]; dataSync(): ArrayLike<number> }): ConstTensor {
  return { shape: tensor.shape.slice(), data: Float32Array.from(tensor.dataSync()) };
}

/** Weights by their Keras short name (kernel, bias, gamma, moving_mean, ...), which is stable across load paths. */
function weightsByName(layer: Layer): Map<string, ConstTensor> {
  const values = layer.getWeights();
  return new Map(layer.weights.map((w, i) => [w.originalName.split('/').pop() ?? w.name, constant(values[i])]));
}

function requireWeight(weights: Map<string, ConstTensor>, name: string, layer: Layer, format: string): ConstTensor {
  const value = weights.get(name);
  if (!value) throw unsupported(`layer ${layer.name} (${layer.getClassName()}) without a ${name} weight`, format);
  return value;
}

function pair(value: unknown): [number, number] {
  return Array.isArray(value) ? [Number(value[0]), Number(value[1] ?? value[0])] : [Number(value), Number(value)];
}

function requireChannelsLast(layer: Layer, config: Config, format: string): void {
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') {
    throw unsupported(`layer ${layer.name} (${layer.getClassName()}) with dataFormat ${String(config.dataFormat)}`, format);
  }
}

/** Separate op for activations a conv/dense cannot carry as a fused activation. */
function activationOp(b: IrBuilder, input: string, activation: string, layer: Layer): string {
  switch (activation) {
    case 'linear':
      return input;
    case 'relu':
      return b.add(`${layer.name}/relu`, { kind: 'clip', input, min: 0, max: Infinity });
    case 'relu6':
      return b.add(`${layer.name}/relu6`, { kind: 'clip', input, min: 0, max: 6 });
    case 'softmax':
      if (b.shapeOf(input).length !== 2) throw unsupported(`softmax over a ${b.shapeOf(input).length}-D tensor in layer ${layer.name}`, b.format);
      return b.add(`${layer.name}/softmax`, { kind: 'softmax', input });
    case 'sigmoid':
      return b.add(`${layer.name}/sigmoid`, { kind: 'sigmoid', input });
    default:
      throw unsupported(`activation '${activation}' in layer ${layer.name}`, b.format);
  }
}

function bias(weights: Map<string, ConstTensor>, channels: number): Float32Array {
  return weights.get('bias')?.data ?? new Float32Array(channels);
}

function convLayer(b: IrBuilder, layer: Layer, config: Config, input: string): string {
  requireChannelsLast(layer, config, b.format);
  const weights = weightsByName(layer);
  const depthwise = layer.getClassName() === 'DepthwiseConv2D';
  const filter = requireWeight(weights, depthwise ? 'depthwise_kernel' : 'kernel', layer, b.format);
  const channels = depthwise ? filter.shape[2] * filter.shape[3] : filter.shape[3];
  const conv = b.add(layer.name, {
    kind: depthwise ? 'depthwiseConv2d' : 'conv2d',
    input,
    filter,
    bias: bias(weights, channels),
    strides: pair(config.strides),
    dilations: pair(config.dilationRate ?? 1),
    padding: config.padding === 'same' ? 'same' : 'valid',
    activation: 'none' as FusedActivation,
  });
  return activationOp(b, conv, String(config.activation ?? 'linear'), layer);
}

function batchNorm(b: IrBuilder, layer: Layer, config: Config, input: string): string {
  const rank = b.shapeOf(input).length;
  const axis = Number(config.axis ?? -1);
  if (axis !== -1 && axis !== rank - 1) throw unsupported(`BatchNormalization ${layer.name} over axis ${axis}`, b.format);
  const weights = weightsByName(layer);
  const mean = requireWeight(weights, 'moving_mean', layer, b.format).data;
  const variance = requireWeight(weights, 'moving_variance', layer, b.format).data;
  const gamma = weights.get('gamma')?.data;
  const beta = weights.get('beta')?.data;
  const epsilon = Number(config.epsilon ?? 1e-3);
  const scale = mean.map((_, c) => (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + epsilon));
  const offset = mean.map((m, c) => (beta ? beta[c] : 0) - m * scale[c]);
  return b.add(layer.name, { kind: 'affine', input, scale, offset });
}

function dense(b: IrBuilder, layer: Layer, config: Config, input: string): string {
  if (b.shapeOf(input).length !== 2) throw unsupported(`Dense ${layer.name} on a ${b.shapeOf(input).length}-D input (flatten or pool first)`, b.format);
  const weights = weightsByName(layer);
  const kernel = requireWeight(weights, 'kernel', layer, b.format);
  const out = b.add(layer.name, { kind: 'dense', input, kernel, bias: bias(weights, kernel.shape[1]), activation: 'none' as FusedActivation });
  return activationOp(b, out, String(config.activation ?? 'linear'), layer);
}

function rescaling(b: IrBuilder, layer: Layer, config: Config, input: string): string {
  const shape = b.shapeOf(input);
  const channels = shape[shape.length - 1];
  const scale = new Float32Array(channels).fill(Number(config.scale));
  const offset = new Float32Array(channels).fill(Number(config.offset ?? 0));
  return b.add(layer.name, { kind: 'affine', input, scale, offset });
}

function convertLayer(b: IrBuilder, layer: Layer, inputs: string[]): string[] {
  const className = layer.getClassName();
  if (isContainer(layer)) return convertContainer(b, layer, inputs);
  const config = layer.getConfig() as Config;
  const input = inputs[0];
  switch (className) {
    case 'Dropout':
    case 'SpatialDropout2D':
    case 'GaussianDropout':
    case 'GaussianNoise':
      return [input];
    case 'ZeroPadding2D': {
      requireChannelsLast(layer, config, b.format);
      const padding = config.padding as number | number[] | number[][];
      const [[top, bottom], [left, right]] = Array.isArray(padding)
        ? padding.map((p) => pair(p))
        : [pair(padding), pair(padding)];
      return [b.add(layer.name, { kind: 'pad', input, pads: [top, bottom, left, right] })];
    }
    case 'Conv2D':
    case 'DepthwiseConv2D':
      return [convLayer(b, layer, config, input)];
    case 'BatchNormalization':
      return [batchNorm(b, layer, config, input)];
    case 'ReLU': {
      if (config.negativeSlope || config.threshold) throw unsupported(`ReLU ${layer.name} with a negative slope or threshold`, b.format);
      const max = config.maxValue == null ? Infinity : Number(config.maxValue);
      return [b.add(layer.name, { kind: 'clip', input, min: 0, max })];
    }
    case 'Activation':
      return [activationOp(b, input, String(config.activation), layer)];
    case 'Add':
      return [inputs.slice(1).reduce((sum, next) => b.add(layer.name, { kind: 'add', inputs: [sum, next] }), input)];
    case 'GlobalAveragePooling2D':
      requireChannelsLast(layer, config, b.format);
      if (config.keepDims) throw unsupported(`GlobalAveragePooling2D ${layer.name} with keepDims`, b.format);
      return [b.add(layer.name, { kind: 'globalAveragePool', input })];
    case 'Flatten':
      return [b.shapeOf(input).length === 2 ? input : b.add(layer.name, { kind: 'flatten', input })];
    case 'Dense':
      return [dense(b, layer, config, input)];
    case 'Rescaling':
      return [rescaling(b, layer, config, input)];
    default:
      throw unsupported(`layer ${layer.name} (${className})`, b.format);
  }
}

function isContainer(layer: Layer): layer is tfl.LayersModel {
  return 'layers' in layer && Array.isArray((layer as tfl.LayersModel).layers);
}

/** Converts a (possibly nested) model's nodes in topological order. */
function convertContainer(b: IrBuilder, model: tfl.LayersModel, inputs: string[]): string[] {
  return walkModel(model, inputs, (layer, ins) => convertLayer(b, layer, ins)).map((name) => {
    if (name === undefined) throw unsupported(`model ${model.name} (an output is not reachable from its input)`, b.format);
    return name;
  });
}

/** Builds the IR of a single-input NHWC LayersModel (nested models included), one IR output per model output. */
export function irFromLayersModel(model: tfl.LayersModel, format: string): IrGraph {
  if (model.inputs.length !== 1) throw unsupported(`model ${model.name} with ${model.inputs.length} inputs`, format);
  const shape = model.inputs[0].shape.map((d) => d ?? 1);
  const b = new IrBuilder(model.inputs[0].name.replace(/:0$/, ''), shape, format);
  return b.finish(...convertContainer(b, model, [b.inputName]));
}

/** Appends a LayersModel (e.g. a classification head) after `input` in an existing builder. */
export function appendLayersModel(b: IrBuilder, model: tfl.LayersModel, input: string): string {
  return convertContainer(b, model, [input])[0];
}
