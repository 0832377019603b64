import type * as tfl from '@tensorflow/tfjs-layers';
import { walkModel } from './layer-graph.js';
import { type ConstTensor, type FusedActivation, IrBuilder, type IrGraph, unsupported } from './ir.js';
import { type BatchNormLayer, type ConvLayer, type DenseLayer, readKerasLayer, values, type Variable } from './keras-layer.js';

type Layer = tfl.layers.Layer;

function constant(variable: Variable): ConstTensor {
  return { shape: (variable.shape as number[]).slice(), data: values(variable) };
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

function bias(variable: Variable | undefined, channels: number): Float32Array {
  return variable === undefined ? new Float32Array(channels) : values(variable);
}

function convLayer(b: IrBuilder, layer: Layer, spec: ConvLayer, input: string): string {
  const filter = constant(spec.kernel);
  const channels = spec.kind === 'depthwiseConv2d' ? filter.shape[2] * filter.shape[3] : filter.shape[3];
  const conv = b.add(layer.name, {
    kind: spec.kind,
    input,
    filter,
    bias: bias(spec.bias, channels),
    strides: spec.strides,
    dilations: spec.dilations,
    padding: spec.padding,
    activation: 'none' as FusedActivation,
  });
  return activationOp(b, conv, spec.activation, layer);
}

function batchNorm(b: IrBuilder, layer: Layer, spec: BatchNormLayer, input: string): string {
  const rank = b.shapeOf(input).length;
  if (spec.axis !== -1 && spec.axis !== rank - 1) throw unsupported(`BatchNormalization ${layer.name} over axis ${spec.axis}`, b.format);
  const mean = values(spec.mean);
  const gamma = spec.gamma && values(spec.gamma);
  const beta = spec.beta && values(spec.beta);
  const variance = values(spec.variance);
  // folded in double precision (the training step folds as tfjs computes, in float32)
  const scale = mean.map((_, c) => (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + spec.epsilon));
  const offset = mean.map((m, c) => (beta ? beta[c] : 0) - m * scale[c]);
  return b.add(layer.name, { kind: 'affine', input, scale, offset });
}

function dense(b: IrBuilder, layer: Layer, spec: DenseLayer, input: string): string {
  if (b.shapeOf(input).length !== 2) throw unsupported(`Dense ${layer.name} on a ${b.shapeOf(input).length}-D input (flatten or pool first)`, b.format);
  const kernel = constant(spec.kernel);
  const out = b.add(layer.name, { kind: 'dense', input, kernel, bias: bias(spec.bias, kernel.shape[1]), activation: 'none' as FusedActivation });
  return activationOp(b, out, spec.activation, layer);
}

function convertLayer(b: IrBuilder, layer: Layer, inputs: string[]): string[] {
  const spec = readKerasLayer(layer, (what) => unsupported(what, b.format));
  const input = inputs[0];
  switch (spec.kind) {
    case 'model':
      return convertContainer(b, spec.model, inputs);
    case 'dropout':
      return [input];
    case 'pad':
      return [b.add(layer.name, { kind: 'pad', input, pads: spec.pads })];
    case 'conv2d':
    case 'depthwiseConv2d':
      return [convLayer(b, layer, spec, input)];
    case 'batchNorm':
      return [batchNorm(b, layer, spec, input)];
    case 'relu':
      return [b.add(layer.name, { kind: 'clip', input, min: 0, max: spec.max ?? Infinity })];
    case 'activation':
      return [activationOp(b, input, spec.activation, layer)];
    case 'add':
      return [inputs.slice(1).reduce((sum, next) => b.add(layer.name, { kind: 'add', inputs: [sum, next] }), input)];
    case 'globalAveragePool':
      return [b.add(layer.name, { kind: 'globalAveragePool', input })];
    case 'flatten':
      return [b.shapeOf(input).length === 2 ? input : b.add(layer.name, { kind: 'flatten', input })];
    case 'dense':
      return [dense(b, layer, spec, input)];
    case 'rescaling': {
      const shape = b.shapeOf(input);
      const channels = shape[shape.length - 1];
      const scale = new Float32Array(channels).fill(spec.scale);
      const offset = new Float32Array(channels).fill(spec.offset);
      return [b.add(layer.name, { kind: 'affine', input, scale, offset })];
    }
  }
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
