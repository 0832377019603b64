import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * One reading of a Keras layer (class name, config, weights by short name) for both translators:
 * the IR front-end (graph/from-layers.ts) and the differentiable training step
 * (train/onnx-step-graph.ts). Each turns the same description into its own ops.
 */

type Layer = tfl.layers.Layer;
type Config = Record<string, unknown>;
export type Variable = tfl.LayerVariable;

/** Makes the error a translator throws for a layer it cannot take (`what` names the layer and feature). */
export type Reject = (what: string) => Error;

export interface ConvLayer {
  kind: 'conv2d' | 'depthwiseConv2d';
  /** conv2d: [kh, kw, in, out]; depthwiseConv2d: [kh, kw, in, multiplier] (Keras layout). */
  kernel: Variable;
  bias?: Variable;
  strides: [number, number];
  dilations: [number, number];
  padding: 'same' | 'valid';
  activation: string;
}

export interface BatchNormLayer {
  kind: 'batchNorm';
  /** -1 or the last axis. */
  axis: number;
  epsilon: number;
  mean: Variable;
  variance: Variable;
  gamma?: Variable;
  beta?: Variable;
}

export interface DenseLayer {
  kind: 'dense';
  /** [in, out]. */
  kernel: Variable;
  bias?: Variable;
  activation: string;
}

export type KerasLayer =
  | ConvLayer
  | BatchNormLayer
  | DenseLayer
  /** Zero padding of the spatial axes: [top, bottom, left, right]. */
  | { kind: 'pad'; pads: [number, number, number, number] }
  /** max(x, 0), clipped at `max` when set. */
  | { kind: 'relu'; max?: number }
  | { kind: 'activation'; activation: string }
  | { kind: 'add' }
  /** Identity at inference; `rate` for Dropout, undefined for the other noise layers. */
  | { kind: 'dropout'; rate?: number }
  | { kind: 'globalAveragePool' }
  | { kind: 'flatten' }
  /** x * scale + offset (the same for every channel). */
  | { kind: 'rescaling'; scale: number; offset: number }
  /** A nested model: the translator walks it. */
  | { kind: 'model'; model: tfl.LayersModel };

export function pair(value: unknown): [number, number] {
  return Array.isArray(value) ? [Number(value[0]), Number(value[1] ?? value[0])] : [Number(value), Number(value)];
}

/** A weight by its Keras short name (kernel, bias, gamma, moving_mean, ...), which is stable across load paths. */
function weight(layer: Layer, short: string): Variable | undefined {
  return layer.weights.find((w) => (w.originalName.split('/').pop() ?? w.name) === short);
}

function requireWeight(layer: Layer, short: string, reject: Reject): Variable {
  const variable = weight(layer, short);
  if (variable === undefined) throw reject(`layer ${layer.name} (${layer.getClassName()}) without a ${short} weight`);
  return variable;
}

function requireChannelsLast(layer: Layer, config: Config, reject: Reject): void {
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') {
    throw reject(`layer ${layer.name} (${layer.getClassName()}) with dataFormat ${String(config.dataFormat)}`);
  }
}

function isContainer(layer: Layer): layer is tfl.LayersModel {
  return 'layers' in layer && Array.isArray((layer as tfl.LayersModel).layers);
}

function convLayer(layer: Layer, config: Config, reject: Reject): ConvLayer {
  requireChannelsLast(layer, config, reject);
  if (Number(config.groups ?? 1) !== 1) throw reject(`grouped ${layer.getClassName()} ${layer.name}`);
  const depthwise = layer.getClassName() === 'DepthwiseConv2D';
  return {
    kind: depthwise ? 'depthwiseConv2d' : 'conv2d',
    kernel: requireWeight(layer, depthwise ? 'depthwise_kernel' : 'kernel', reject),
    bias: weight(layer, 'bias'),
    strides: pair(config.strides ?? 1),
    dilations: pair(config.dilationRate ?? 1),
    padding: config.padding === 'same' ? 'same' : 'valid',
    activation: String(config.activation ?? 'linear'),
  };
}

/** Reads `layer` into the description both translators share, or rejects what neither supports. */
export function readKerasLayer(layer: Layer, reject: Reject): KerasLayer {
  if (isContainer(layer)) return { kind: 'model', model: layer };
  const config = layer.getConfig() as Config;
  const className = layer.getClassName();
  switch (className) {
    case 'Dropout':
      return { kind: 'dropout', rate: Number(config.rate) };
    case 'SpatialDropout2D':
    case 'GaussianDropout':
    case 'GaussianNoise':
      return { kind: 'dropout' };
    case 'ZeroPadding2D': {
      requireChannelsLast(layer, config, reject);
      const padding = config.padding as number | number[] | number[][];
      const [[top, bottom], [left, right]] = Array.isArray(padding) ? padding.map((p) => pair(p)) : [pair(padding), pair(padding)];
      return { kind: 'pad', pads: [top, bottom, left, right] };
    }
    case 'Conv2D':
    case 'DepthwiseConv2D':
      return convLayer(layer, config, reject);
    case 'BatchNormalization':
      return {
        kind: 'batchNorm',
        axis: Number(config.axis ?? -1),
        epsilon: Number(config.epsilon ?? 1e-3),
        mean: requireWeight(layer, 'moving_mean', reject),
        variance: requireWeight(layer, 'moving_variance', reject),
        gamma: weight(layer, 'gamma'),
        beta: weight(layer, 'beta'),
      };
    case 'ReLU':
      if (config.negativeSlope || config.threshold) throw reject(`ReLU ${layer.name} with a negative slope or threshold`);
      return { kind: 'relu', max: config.maxValue == null ? undefined : Number(config.maxValue) };
    case 'Activation':
      return { kind: 'activation', activation: String(config.activation) };
    case 'Add':
      return { kind: 'add' };
    case 'GlobalAveragePooling2D':
      requireChannelsLast(layer, config, reject);
      if (config.keepDims) throw reject(`GlobalAveragePooling2D ${layer.name} with keepDims`);
      return { kind: 'globalAveragePool' };
    case 'Flatten':
      return { kind: 'flatten' };
    case 'Dense':
      return { kind: 'dense', kernel: requireWeight(layer, 'kernel', reject), bias: weight(layer, 'bias'), activation: String(config.activation ?? 'linear') };
    case 'Rescaling':
      return { kind: 'rescaling', scale: Number(config.scale), offset: Number(config.offset ?? 0) };
    default:
      throw reject(`layer ${layer.name} (${className})`);
  }
}

export function values(variable: Variable): Float32Array {
  return Float32Array.from(variable.read().dataSync());
}

