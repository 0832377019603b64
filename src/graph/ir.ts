import { FacetrainError } from '../errors.js';

/**
 * A small op graph that every exporter reads: NHWC tensors, float32 constants, batch 1 shapes.
 * Front-ends (from-layers, from-graph) build it; `optimizeIr` folds what runtimes fuse anyway;
 * emitters (onnx, tflite) translate op by op.
 */

export type FusedActivation = 'none' | 'relu' | 'relu6';

/** TensorFlow padding semantics: 'same' pads so out = ceil(in / stride), extra pixel at the end. */
export type Padding = 'same' | 'valid';

export interface ConstTensor {
  shape: number[];
  data: Float32Array;
}

interface Unary {
  input: string;
  output: string;
}

export interface PadOp extends Unary {
  kind: 'pad';
  /** Zero padding of the spatial axes: [top, bottom, left, right]. */
  pads: [number, number, number, number];
}

export interface ConvOp extends Unary {
  kind: 'conv2d' | 'depthwiseConv2d';
  /** conv2d: [kh, kw, in, out] (HWIO); depthwiseConv2d: [kh, kw, in, multiplier]. */
  filter: ConstTensor;
  /** One per output channel (out, or in * multiplier). */
  bias: Float32Array;
  strides: [number, number];
  dilations: [number, number];
  padding: Padding;
  activation: FusedActivation;
}

/** Per-channel x * scale + offset over the last axis (inference batch norm, Rescaling, folded Mul/Add). */
export interface AffineOp extends Unary {
  kind: 'affine';
  scale: Float32Array;
  offset: Float32Array;
}

export interface ClipOp extends Unary {
  kind: 'clip';
  min: number;
  max: number;
}

export interface AddOp {
  kind: 'add';
  inputs: [string, string];
  output: string;
}

export interface DenseOp extends Unary {
  kind: 'dense';
  /** [in, out], as Keras stores it. */
  kernel: ConstTensor;
  bias: Float32Array;
  activation: FusedActivation;
}

/** Shape-only or parameter-free ops: mean over H and W to [N, C], flatten to [N, -1], last-axis softmax, sigmoid, L2 normalisation, the image mirrored left-right. */
export interface SimpleOp extends Unary {
  kind: 'globalAveragePool' | 'flatten' | 'softmax' | 'sigmoid' | 'l2Normalize' | 'mirrorWidth';
}

/** Per-channel leaky ReLU with learned slopes: x for x >= 0, slope * x below. */
export interface PReluOp extends Unary {
  kind: 'prelu';
  slope: Float32Array;
}

/** [N, groups * k] -> [N, groups]: the largest of each run of k consecutive values (a person's best template match). */
export interface GroupMaxOp extends Unary {
  kind: 'groupMax';
  groups: number;
}

/** [N, C] values and [N, C] keys -> [N, 1]: each row's value at the position of its largest key (first on ties). */
export interface PickAtArgMaxOp {
  kind: 'pickAtArgMax';
  /** [values, keys] */
  inputs: [string, string];
  output: string;
}

export type IrOp = PadOp | ConvOp | AffineOp | ClipOp | AddOp | DenseOp | SimpleOp | PReluOp | GroupMaxOp | PickAtArgMaxOp;

/** Ops with weights and a bias (one per output channel): what folding and quantization act on. */
export type WeightedOp = ConvOp | DenseOp;

export function isWeighted(op: IrOp): op is WeightedOp {
  return op.kind === 'conv2d' || op.kind === 'depthwiseConv2d' || op.kind === 'dense';
}

/** An op before the builder names its output. */
export type IrOpSpec = IrOp extends infer T ? (T extends IrOp ? Omit<T, 'output'> : never) : never;

export interface IrGraph {
  input: { name: string; shape: number[] };
  ops: IrOp[];
  /** One for a recognizer; several for a model cut at a boundary (e.g. frozen features at a residual). */
  outputs: string[];
  /** Shape of every tensor (batch 1), input included. */
  shapes: Map<string, number[]>;
}

/** x / sqrt(max(sum(x^2), L2_EPSILON)), as tf.math.l2_normalize. */
export const L2_EPSILON = 1e-12;

/** The output of a graph that formats with one output (TFLite, recognizers) need. */
export function soleOutput(graph: IrGraph): string {
  if (graph.outputs.length !== 1) throw new Error(`internal error: expected a single-output IR graph, got ${graph.outputs.length} outputs`);
  return graph.outputs[0]!;
}

export function opInputs(op: IrOp): string[] {
  return 'inputs' in op ? [...op.inputs] : [op.input];
}

function spatialOut(size: number, kernel: number, stride: number, dilation: number, padding: Padding): number {
  const effective = (kernel - 1) * dilation + 1;
  return padding === 'same' ? Math.ceil(size / stride) : Math.floor((size - effective) / stride) + 1;
}

/** TF 'same' padding as explicit [begin, end] for one spatial axis. */
export function samePadding(size: number, kernel: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
  const begin = Math.floor(total / 2);
  return [begin, total - begin];
}

function outputShape(op: IrOp, shapeOf: (name: string) => number[]): number[] {
  const input = shapeOf(opInputs(op)[0]);
  switch (op.kind) {
    case 'pad':
      return [input[0], input[1] + op.pads[0] + op.pads[1], input[2] + op.pads[2] + op.pads[3], input[3]];
    case 'conv2d':
    case 'depthwiseConv2d': {
      const [kh, kw, , last] = op.filter.shape;
      const channels = op.kind === 'conv2d' ? last : input[3] * last;
      return [
        input[0],
        spatialOut(input[1], kh, op.strides[0], op.dilations[0], op.padding),
        spatialOut(input[2], kw, op.strides[1], op.dilations[1], op.padding),
        channels,
      ];
    }
    case 'globalAveragePool':
      return [input[0], input[3]];
    case 'flatten':
      return [input[0], input.slice(1).reduce((a, b) => a * b, 1)];
    case 'dense':
      return [input[0], op.kernel.shape[1]];
    case 'groupMax':
      if (input[1] % op.groups !== 0) throw new Error(`internal error: ${input[1]} values do not split into ${op.groups} groups`);
      return [input[0], op.groups];
    case 'pickAtArgMax':
      return [input[0], 1];
    default:
      return input;
  }
}

/** Appends ops with fresh tensor names and records shapes as it goes, so front-ends never compute shapes. */
export class IrBuilder {
  private readonly ops: IrOp[] = [];
  private readonly shapes = new Map<string, number[]>();
  private readonly used = new Set<string>();
  readonly inputName: string;
  /** Target format, named in unsupported-layer errors. */
  readonly format: string;

  constructor(inputName: string, inputShape: number[], format: string) {
    this.format = format;
    this.inputName = this.fresh(inputName);
    this.shapes.set(this.inputName, inputShape);
  }

  shapeOf(name: string): number[] {
    const shape = this.shapes.get(name);
    if (!shape) throw new Error(`IR tensor ${name} is not defined`);
    return shape;
  }

  private fresh(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_./-]/g, '_') || 'tensor';
    let name = clean;
    for (let i = 1; this.used.has(name); i++) name = `${clean}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Adds an op whose output is named after `name`; returns the output tensor name. */
  add(name: string, op: IrOpSpec): string {
    const output = this.fresh(name);
    const full = { ...op, output } as IrOp;
    this.shapes.set(output, outputShape(full, (n) => this.shapeOf(n)));
    this.ops.push(full);
    return output;
  }

  finish(...outputs: string[]): IrGraph {
    return { input: { name: this.inputName, shape: this.shapeOf(this.inputName) }, ops: this.ops, outputs, shapes: this.shapes };
  }
}

export function unsupported(what: string, format: string): FacetrainError {
  return new FacetrainError('FT_ERR_UNSUPPORTED', `${what} cannot be exported to ${format}; use a model made of supported layers or export to TF.js instead`);
}
