import type * as tfl from '@tensorflow/tfjs-layers';
import { walkModel } from '../graph/layer-graph.js';
import { samePadding } from '../graph/ir.js';
import { type BatchNormLayer, type ConvLayer, type DenseLayer, readKerasLayer, values, type Variable } from '../graph/keras-layer.js';
import { int, ints, ONNX_FLOAT } from '../graph/onnx-schema.js';
import { type Dim, OnnxGraph } from '../graph/onnx-graph.js';
import { replicaWeights, type ReplicaModels } from './replica.js';

/**
 * Writes a training step out as an ordinary ONNX graph, so that onnxruntime (which has no training
 * API in Node) runs the forward pass, the loss and reverse-mode gradients of every trainable weight.
 * Trainable weights are graph inputs in their Keras layout (the graph transposes them to ONNX's),
 * frozen ones (BatchNorm moving statistics) initializers. Inside, 4-D tensors are NCHW.
 * Every backward rule is the exact gradient tfjs computes for the same op (same masks at the
 * boundaries of ReLU6 and of the loss's clip), so losses and gradients agree to rounding.
 */

type Layer = tfl.layers.Layer;

export interface StepGraph {
  bytes: Uint8Array;
  /** Graph inputs of the cached boundary tensors (NHWC, as cached), in `tail.inputs` order. */
  boundary: { name: string; shape: number[] }[];
  /** One multiplier input per Dropout layer (NHWC, 0 or 1/(1-rate) per element); training graphs only. */
  dropout: { name: string; shape: number[]; rate: number }[];
  /** Graph input of each trainable weight (Keras layout), in `replicaWeights(models)` order. */
  weights: string[];
  classes: number;
  /** One-hot labels [batch, classes]; training graphs only. */
  labels: string;
  /** Output names: mean loss and one gradient per weight (training graphs), probabilities (both). */
  loss: string;
  probabilities: string;
  gradients: string[];
}

function internal(message: string): Error {
  return new Error(`internal error: the ONNX training step ${message}`);
}

interface Param {
  /** Graph tensor holding the weight in its Keras layout. */
  name: string;
  trainable: boolean;
  shape: number[];
}

/** A graph tensor and its Keras (NHWC) shape without the batch axis. */
interface Value {
  name: string;
  shape: number[];
}

const NCHW = [0, 3, 1, 2];
const REDUCE_NCHW_TO_CHANNELS = [0, 2, 3];

/** The graph under construction and its tape: backward rules run in reverse order of the forward ops. */
class StepBuilder {
  readonly g = new OnnxGraph();
  private readonly tape: (() => void)[] = [];
  private readonly contributions = new Map<string, string[]>();
  private readonly summed = new Map<string, string>();
  /** Tensors whose gradient some trainable weight needs. */
  private readonly needed = new Set<string>();
  private readonly params = new Map<Variable, Param>();
  readonly dropout: StepGraph['dropout'] = [];

  constructor(
    readonly training: boolean,
    trainable: Variable[],
    readonly weightInputs: string[],
  ) {
    trainable.forEach((w, i) => {
      this.params.set(w, { name: this.g.input(weightInputs[i]!, w.shape as number[]), trainable: true, shape: w.shape as number[] });
      this.needed.add(weightInputs[i]!);
    });
  }

  /** A layer weight as a graph tensor: its input if trainable, else a constant. */
  param(variable: Variable): Param {
    let param = this.params.get(variable);
    if (param === undefined) {
      const shape = variable.shape as number[];
      param = { name: this.g.floatConst(values(variable), shape), trainable: false, shape };
      this.params.set(variable, param);
    }
    return param;
  }

  needsGrad(name: string): boolean {
    return this.needed.has(name);
  }

  /** Records a forward op's output: it needs a gradient when an input does; `backward` gets its gradient. */
  record(output: string, inputs: string[], backward: (dy: string) => void): string {
    if (!this.training || !inputs.some((i) => this.needed.has(i))) return output;
    this.needed.add(output);
    const scope = `${this.g.scope}grad/`;
    this.tape.push(() => {
      this.g.scope = scope;
      backward(this.grad(output));
    });
    return output;
  }

  addGrad(tensor: string, grad: string): void {
    if (!this.needed.has(tensor)) return;
    if (this.summed.has(tensor)) throw internal(`adds to the gradient of ${tensor} after using it`);
    const list = this.contributions.get(tensor) ?? [];
    list.push(grad);
    this.contributions.set(tensor, list);
  }

  grad(tensor: string): string {
    let sum = this.summed.get(tensor);
    if (sum === undefined) {
      const list = this.contributions.get(tensor);
      if (list === undefined) throw internal(`reaches no gradient of ${tensor}`);
      sum = list.length === 1 ? list[0]! : this.g.op('Sum', list);
      this.summed.set(tensor, sum);
    }
    return sum;
  }

  runBackward(): void {
    for (let i = this.tape.length - 1; i >= 0; i--) this.tape[i]!();
  }

  reduceChannels(x: string): string {
    return this.g.op('ReduceSum', [x, this.g.int64(REDUCE_NCHW_TO_CHANNELS)], [int('keepdims', 0)]);
  }

  /** A per-channel [C] vector shaped [C, 1, 1] to broadcast over NCHW. */
  perChannel(vector: string): string {
    return this.g.op('Unsqueeze', [vector, this.g.int64([1, 2])]);
  }
}

/** Gradient of max(x, 0) then clip(·, 0, max) as tfjs takes it: dy where 0 < x (<= max), else 0. */
function reluBackward(b: StepBuilder, x: string, dy: string, max: number | undefined): string {
  let mask = b.g.op('Greater', [x, b.g.scalar(0)]);
  if (max !== undefined) mask = b.g.op('And', [mask, b.g.op('LessOrEqual', [x, b.g.scalar(max)])]);
  // dy * float(mask): onnxruntime's Where is a slow generic kernel, Mul is vectorised and threaded
  return b.g.op('Mul', [dy, b.g.op('Cast', [mask], [int('to', ONNX_FLOAT)])]);
}

function activation(b: StepBuilder, layer: Layer, x: Value, kind: string): Value {
  switch (kind) {
    case 'linear':
      return x;
    case 'relu': {
      const y = b.g.op('Relu', [x.name]);
      return { name: b.record(y, [x.name], (dy) => b.addGrad(x.name, reluBackward(b, x.name, dy, undefined))), shape: x.shape };
    }
    case 'softmax': {
      if (x.shape.length !== 1) throw internal(`supports softmax over 2-D tensors only (layer ${layer.name})`);
      const p = b.g.op('Softmax', [x.name], [int('axis', -1)]);
      return {
        name: b.record(p, [x.name], (dy) => {
          // tfjs: dy * p - sum(dy * p) * p
          const dyTimesP = b.g.op('Mul', [dy, p]);
          const total = b.g.op('ReduceSum', [dyTimesP, b.g.int64([-1])], [int('keepdims', 1)]);
          b.addGrad(x.name, b.g.op('Sub', [dyTimesP, b.g.op('Mul', [total, p])]));
        }),
        shape: x.shape,
      };
    }
    default:
      throw internal(`does not support activation '${kind}' (layer ${layer.name})`);
  }
}

function batchNorm(b: StepBuilder, layer: Layer, spec: BatchNormLayer, x: Value): Value {
  if (x.shape.length !== 3) throw internal(`supports BatchNormalization of 4-D tensors only (layer ${layer.name})`);
  if (spec.axis !== -1 && spec.axis !== 3) throw internal(`supports BatchNormalization over the channel axis only (layer ${layer.name})`);
  const channels = x.shape[2]!;
  const mean = b.param(spec.mean);
  const gamma = spec.gamma && b.param(spec.gamma);
  const beta = spec.beta && b.param(spec.beta);
  const ones = () => b.g.floatConst(new Float32Array(channels).fill(1), [channels]);
  const zeros = () => b.g.floatConst(new Float32Array(channels), [channels]);
  const gammaName = gamma?.name ?? ones();
  // inference mode (moving statistics), as Keras fine-tunes a base called with training=False;
  // y = x * scale + offset per channel: onnxruntime's BatchNormalization kernel is several times slower
  const inverse = b.g.floatConst(values(spec.variance).map((v) => 1 / Math.sqrt(Math.fround(v + spec.epsilon))), [channels]);
  const scale = b.g.op('Mul', [gammaName, inverse]);
  const offset = b.g.op('Sub', [beta?.name ?? zeros(), b.g.op('Mul', [mean.name, scale])]);
  const y = b.g.op('Add', [b.g.op('Mul', [x.name, b.perChannel(scale)]), b.perChannel(offset)]);
  return {
    name: b.record(y, [x.name, gammaName, ...(beta ? [beta.name] : [])], (dy) => {
      if (beta?.trainable) b.addGrad(beta.name, b.reduceChannels(dy));
      if (gamma?.trainable) {
        const normalised = b.g.op('Mul', [b.g.op('Sub', [x.name, b.perChannel(mean.name)]), b.perChannel(inverse)]);
        b.addGrad(gamma.name, b.reduceChannels(b.g.op('Mul', [dy, normalised])));
      }
      if (b.needsGrad(x.name)) b.addGrad(x.name, b.g.op('Mul', [dy, b.perChannel(scale)]));
    }),
    shape: x.shape,
  };
}

function relu(b: StepBuilder, max: number | undefined, x: Value): Value {
  const y = max === undefined ? b.g.op('Relu', [x.name]) : b.g.op('Clip', [x.name, b.g.scalar(0), b.g.scalar(max)]);
  return { name: b.record(y, [x.name], (dy) => b.addGrad(x.name, reluBackward(b, x.name, dy, max))), shape: x.shape };
}

interface ConvGeometry {
  kernel: [number, number];
  strides: [number, number];
  /** ONNX order: top, left, bottom, right. */
  pads: number[];
  inSize: [number, number];
  outSize: [number, number];
}

function convGeometry(layer: Layer, spec: ConvLayer, x: Value, kernel: [number, number]): ConvGeometry {
  if (spec.dilations.some((d) => d !== 1)) throw internal(`does not support dilated convolutions (layer ${layer.name})`);
  const strides = spec.strides;
  const [h, w] = [x.shape[0]!, x.shape[1]!];
  const same = spec.padding === 'same';
  const [top, bottom] = same ? samePadding(h, kernel[0], strides[0], 1) : [0, 0];
  const [left, right] = same ? samePadding(w, kernel[1], strides[1], 1) : [0, 0];
  const outSize: [number, number] = [Math.floor((h + top + bottom - kernel[0]) / strides[0]) + 1, Math.floor((w + left + right - kernel[1]) / strides[1]) + 1];
  return { kernel, strides, pads: [top, left, bottom, right], inSize: [h, w], outSize };
}

function convAttributes(geo: ConvGeometry, group: number) {
  return [ints('kernel_shape', geo.kernel), ints('strides', geo.strides), ints('pads', geo.pads), int('group', group)];
}

/**
 * dx of a (grouped) convolution. Stride 1: a convolution of dy with the kernel flipped (and, for
 * group 1, in/out channels swapped), padded by kernel - 1 - pad: onnxruntime's Conv is about twice as
 * fast as its ConvTranspose. Larger strides: the transposed convolution, padded back to the input's size.
 */
function convInputGrad(b: StepBuilder, dy: string, weightOihw: string, geo: ConvGeometry, group: number): string {
  if (geo.strides[0] === 1 && geo.strides[1] === 1) {
    const perGroup = group === 1 ? b.g.op('Transpose', [weightOihw], [ints('perm', [1, 0, 2, 3])]) : weightOihw;
    const flipped = b.g.op('Slice', [perGroup, b.g.int64([-1, -1]), b.g.int64([-(2 ** 62), -(2 ** 62)]), b.g.int64([2, 3]), b.g.int64([-1, -1])]);
    const pads = geo.pads.map((p, i) => geo.kernel[i % 2]! - 1 - p);
    return b.g.op('Conv', [dy, flipped], [ints('kernel_shape', geo.kernel), ints('pads', pads), int('group', group)]);
  }
  const outputPadding = [0, 1].map((a) => geo.inSize[a]! + geo.pads[a]! + geo.pads[a + 2]! - ((geo.outSize[a]! - 1) * geo.strides[a]! + geo.kernel[a]!));
  return b.g.op('ConvTranspose', [dy, weightOihw], [...convAttributes(geo, group), ints('output_padding', outputPadding)]);
}

/**
 * dW of a (grouped) convolution as one convolution: batch and channels swapped, so each channel's
 * input is correlated with its output gradient (dilated by the stride) over batch and positions.
 * Returns [C_in or 1, C_out, kh, kw] (trailing rows beyond the kernel, left over by 'valid' strides, dropped).
 */
function convWeightGrad(b: StepBuilder, x: string, dy: string, geo: ConvGeometry, depthwiseChannels?: number): string {
  let input = b.g.op('Transpose', [x], [ints('perm', [1, 0, 2, 3])]);
  if (depthwiseChannels !== undefined) input = b.g.op('Reshape', [input, b.g.int64([1, -1, ...geo.inSize])]);
  const kernel = b.g.op('Transpose', [dy], [ints('perm', [1, 0, 2, 3])]);
  const attributes = [ints('strides', [1, 1]), ints('dilations', geo.strides), ints('pads', geo.pads)];
  const full = b.g.op('Conv', [input, kernel], depthwiseChannels !== undefined ? [...attributes, int('group', depthwiseChannels)] : attributes);
  const fullSize = [0, 1].map((a) => geo.inSize[a]! + geo.pads[a]! + geo.pads[a + 2]! - geo.strides[a]! * (geo.outSize[a]! - 1));
  if (fullSize[0] === geo.kernel[0] && fullSize[1] === geo.kernel[1]) return full;
  return b.g.op('Slice', [full, b.g.int64([0, 0]), b.g.int64(geo.kernel), b.g.int64([2, 3])]);
}

/**
 * dW of a stride-1 k x k convolution in Keras' [kh, kw, Cin, Cout] as one matrix product: the
 * input's k*k shifted windows side by side (tap-major, channels last: Keras' kernel order) times the
 * output gradient. The batch-and-channels-swapped convolution runs a tiny-channel, huge-batch Conv
 * that onnxruntime handles badly (the classic head's 3x3 conv on 7x7x1280).
 */
function patchWeightGrad(b: StepBuilder, x: string, dz: string, geo: ConvGeometry, cin: number, cout: number): string {
  const [top, left, bottom, right] = geo.pads;
  const padded = geo.pads.some((p) => p > 0) ? b.g.op('Pad', [x, b.g.int64([0, 0, top!, left!, 0, 0, bottom!, right!])]) : x;
  const nhwc = b.g.op('Transpose', [padded], [ints('perm', [0, 2, 3, 1])]);
  const [oh, ow] = geo.outSize;
  const windows: string[] = [];
  for (let i = 0; i < geo.kernel[0]; i++) {
    for (let j = 0; j < geo.kernel[1]; j++) {
      const window = b.g.op('Slice', [nhwc, b.g.int64([i, j]), b.g.int64([i + oh, j + ow]), b.g.int64([1, 2])]);
      windows.push(b.g.op('Reshape', [window, b.g.int64([-1, cin])]));
    }
  }
  const patches = b.g.op('Concat', windows, [int('axis', 1)]);
  const dzRows = b.g.op('Reshape', [b.g.op('Transpose', [dz], [ints('perm', [0, 2, 3, 1])]), b.g.int64([-1, cout])]);
  const grad = b.g.op('Gemm', [patches, dzRows], [int('transA', 1)]);
  return b.g.op('Reshape', [grad, b.g.int64([...geo.kernel, cin, cout])]);
}

/** dW of a 1x1 stride-1 convolution, in Keras' [1, 1, Cin, Cout]. */
function pointwiseWeightGrad(b: StepBuilder, x: string, dz: string, cin: number, cout: number): string {
  const xRows = b.g.op('Reshape', [x, b.g.int64([0, cin, -1])]);
  const dzRows = b.g.op('Reshape', [dz, b.g.int64([0, cout, -1])]);
  // sum over images of x_n [Cin, HW] · dz_n^T [HW, Cout]
  const perImage = b.g.op('MatMul', [xRows, b.g.op('Transpose', [dzRows], [ints('perm', [0, 2, 1])])]);
  const grad = b.g.op('ReduceSum', [perImage, b.g.int64([0])], [int('keepdims', 0)]);
  return b.g.op('Reshape', [grad, b.g.int64([1, 1, cin, cout])]);
}

function conv2d(b: StepBuilder, layer: Layer, spec: ConvLayer, x: Value): Value {
  const kernel = b.param(spec.kernel);
  const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
  const geo = convGeometry(layer, spec, x, [kh, kw]);
  const bias = spec.bias && b.param(spec.bias);
  const oihw = b.g.op('Transpose', [kernel.name], [ints('perm', [3, 2, 0, 1])]);
  const z = b.g.op('Conv', [x.name, oihw, ...(bias ? [bias.name] : [])], convAttributes(geo, 1));
  const pointwise = kh === 1 && kw === 1 && geo.strides[0] === 1 && geo.strides[1] === 1 && geo.pads.every((p) => p === 0);
  const out = b.record(z, [x.name, kernel.name, ...(bias ? [bias.name] : [])], (dz) => {
    if (bias?.trainable) b.addGrad(bias.name, b.reduceChannels(dz));
    if (kernel.trainable) {
      if (pointwise) {
        b.addGrad(kernel.name, pointwiseWeightGrad(b, x.name, dz, cin, cout));
      } else {
        b.addGrad(kernel.name, geo.strides.every((st) => st === 1) ? patchWeightGrad(b, x.name, dz, geo, cin, cout) : b.g.op('Transpose', [convWeightGrad(b, x.name, dz, geo)], [ints('perm', [2, 3, 0, 1])]));
      }
    }
    if (b.needsGrad(x.name)) {
      const dx = pointwise
        ? b.g.op('Conv', [dz, b.g.op('Transpose', [kernel.name], [ints('perm', [2, 3, 0, 1])])])
        : convInputGrad(b, dz, oihw, geo, 1);
      b.addGrad(x.name, dx);
    }
  });
  return activation(b, layer, { name: out, shape: [...geo.outSize, cout] }, spec.activation);
}

function depthwiseConv2d(b: StepBuilder, layer: Layer, spec: ConvLayer, x: Value): Value {
  const kernel = b.param(spec.kernel);
  const [kh, kw, channels, multiplier] = kernel.shape as [number, number, number, number];
  if (multiplier !== 1) throw internal(`supports depth multiplier 1 only (layer ${layer.name})`);
  const geo = convGeometry(layer, spec, x, [kh, kw]);
  const bias = spec.bias && b.param(spec.bias);
  const weights = b.g.op('Transpose', [kernel.name], [ints('perm', [2, 3, 0, 1])]);
  const z = b.g.op('Conv', [x.name, weights, ...(bias ? [bias.name] : [])], convAttributes(geo, channels));
  const out = b.record(z, [x.name, kernel.name, ...(bias ? [bias.name] : [])], (dz) => {
    if (bias?.trainable) b.addGrad(bias.name, b.reduceChannels(dz));
    // [1, C, kh, kw] -> Keras [kh, kw, C, 1]
    if (kernel.trainable) b.addGrad(kernel.name, b.g.op('Transpose', [convWeightGrad(b, x.name, dz, geo, channels)], [ints('perm', [2, 3, 1, 0])]));
    if (b.needsGrad(x.name)) b.addGrad(x.name, convInputGrad(b, dz, weights, geo, channels));
  });
  return activation(b, layer, { name: out, shape: [...geo.outSize, channels] }, spec.activation);
}

function zeroPadding(b: StepBuilder, [top, bottom, left, right]: [number, number, number, number], x: Value): Value {
  const [h, w, c] = x.shape as [number, number, number];
  const y = b.g.op('Pad', [x.name, b.g.int64([0, 0, top, left, 0, 0, bottom, right])]);
  return {
    name: b.record(y, [x.name], (dy) => b.addGrad(x.name, b.g.op('Slice', [dy, b.g.int64([top, left]), b.g.int64([top + h, left + w]), b.g.int64([2, 3])]))),
    shape: [h + top + bottom, w + left + right, c],
  };
}

function dropout(b: StepBuilder, rate: number, x: Value): Value {
  if (!b.training) return x;
  const name = b.g.input(`dropout_${b.dropout.length}`, ['batch', ...x.shape]);
  b.dropout.push({ name, shape: x.shape, rate });
  const multiplier = x.shape.length === 3 ? b.g.op('Transpose', [name], [ints('perm', NCHW)]) : name;
  const y = b.g.op('Mul', [x.name, multiplier]);
  return { name: b.record(y, [x.name], (dy) => b.addGrad(x.name, b.g.op('Mul', [dy, multiplier]))), shape: x.shape };
}

function globalAveragePool(b: StepBuilder, x: Value): Value {
  const [h, w, c] = x.shape as [number, number, number];
  const y = b.g.op('ReduceMean', [x.name], [ints('axes', [2, 3]), int('keepdims', 0)]);
  return {
    name: b.record(y, [x.name], (dy) => {
      const spread = b.g.op('Expand', [b.g.op('Unsqueeze', [dy, b.g.int64([2, 3])]), b.g.int64([1, 1, h, w])]);
      b.addGrad(x.name, b.g.op('Div', [spread, b.g.scalar(h * w)]));
    }),
    shape: [c],
  };
}

function dense(b: StepBuilder, layer: Layer, spec: DenseLayer, x: Value): Value {
  if (x.shape.length !== 1) throw internal(`supports Dense on 2-D inputs only (layer ${layer.name})`);
  const kernel = b.param(spec.kernel);
  const bias = spec.bias && b.param(spec.bias);
  const z = b.g.op('Gemm', [x.name, kernel.name, ...(bias ? [bias.name] : [])]);
  const out = b.record(z, [x.name, kernel.name, ...(bias ? [bias.name] : [])], (dz) => {
    if (bias?.trainable) b.addGrad(bias.name, b.g.op('ReduceSum', [dz, b.g.int64([0])], [int('keepdims', 0)]));
    if (kernel.trainable) b.addGrad(kernel.name, b.g.op('Gemm', [x.name, dz], [int('transA', 1)]));
    if (b.needsGrad(x.name)) b.addGrad(x.name, b.g.op('Gemm', [dz, kernel.name], [int('transB', 1)]));
  });
  return activation(b, layer, { name: out, shape: [kernel.shape[1]!] }, spec.activation);
}

function add(b: StepBuilder, xs: Value[]): Value {
  const y = b.g.op('Sum', xs.map((x) => x.name));
  return { name: b.record(y, xs.map((x) => x.name), (dy) => xs.forEach((x) => b.addGrad(x.name, dy))), shape: xs[0]!.shape };
}

function emitLayer(b: StepBuilder, layer: Layer, inputs: Value[]): Value {
  const spec = readKerasLayer(layer, (what) => internal(`does not support ${what}`));
  const x = inputs[0]!;
  switch (spec.kind) {
    case 'batchNorm':
      return batchNorm(b, layer, spec, x);
    case 'relu':
      return relu(b, spec.max, x);
    case 'activation':
      return activation(b, layer, x, spec.activation);
    case 'conv2d':
      return conv2d(b, layer, spec, x);
    case 'depthwiseConv2d':
      return depthwiseConv2d(b, layer, spec, x);
    case 'pad':
      return zeroPadding(b, spec.pads, x);
    case 'add':
      return add(b, inputs);
    case 'dropout':
      if (spec.rate === undefined) break;
      return dropout(b, spec.rate, x);
    case 'globalAveragePool':
      return globalAveragePool(b, x);
    case 'dense':
      return dense(b, layer, spec, x);
  }
  throw internal(`does not support layer ${layer.name} (${layer.getClassName()})`);
}

/** Emits a model's nodes in topological order (each layer's ops named under its scope, for profiles). */
function emitModel(b: StepBuilder, model: tfl.LayersModel, inputs: Value[]): Value {
  if (model.outputs.length !== 1) throw internal(`needs a single-output model (${model.name})`);
  const [out] = walkModel(model, inputs, (layer, ins, node) => {
    if (node.outputTensors.length !== 1) throw internal(`does not support layer ${layer.name} with several outputs`);
    b.g.scope = `${layer.name}/`;
    return [emitLayer(b, layer, ins)];
  });
  if (out === undefined) throw internal(`cannot reach the output of ${model.name} from its inputs`);
  return out;
}

/** Keras' categorical cross-entropy on clipped probabilities, differentiated as tfjs does (clip mask included). */
function crossEntropy(b: StepBuilder, probabilities: string, labels: string): string {
  const [low, high] = [1e-7, 1 - 1e-7];
  const clipped = b.g.op('Clip', [probabilities, b.g.scalar(low), b.g.scalar(high)]);
  const perRow = b.g.op('ReduceSum', [b.g.op('Mul', [labels, b.g.op('Log', [clipped])]), b.g.int64([-1])], [int('keepdims', 0)]);
  const loss = b.g.op('Neg', [b.g.op('ReduceMean', [perRow], [int('keepdims', 0)])]);
  // d loss / d log(clipped) = -labels / batch
  const batch = b.g.op('Cast', [b.g.op('Gather', [b.g.op('Shape', [labels]), b.g.int64([0])])], [int('to', 1)]);
  const dLog = b.g.op('Mul', [labels, b.g.op('Div', [b.g.scalar(-1), batch])]);
  const inRange = b.g.op('And', [b.g.op('GreaterOrEqual', [probabilities, b.g.scalar(low)]), b.g.op('LessOrEqual', [probabilities, b.g.scalar(high)])]);
  b.addGrad(probabilities, b.g.op('Where', [inRange, b.g.op('Div', [dLog, clipped]), b.g.scalar(0)]));
  return loss;
}

/**
 * The step graph of `head` on `tail` (BatchNorm in inference mode), fed by the tail's cached inputs.
 * With `training`, it also takes labels and dropout multipliers and outputs the loss and gradients;
 * without, it is the forward pass (no dropout) for evaluation.
 */
export function buildStepGraph(models: ReplicaModels, training: boolean): StepGraph {
  const weights = replicaWeights(models);
  const weightInputs = weights.map((_, i) => `weight_${i}`);
  const b = new StepBuilder(training, weights, weightInputs);
  const tailInputs = models.tail?.inputs ?? models.head.inputs;
  const boundary = tailInputs.map((t, i) => ({ name: `boundary_${i}`, shape: t.shape.slice(1) as number[] }));
  const inputs = boundary.map(({ name, shape }) => {
    b.g.input(name, ['batch', ...shape]);
    return { name: shape.length === 3 ? b.g.op('Transpose', [name], [ints('perm', NCHW)]) : name, shape };
  });
  const features = models.tail ? emitModel(b, models.tail, inputs) : inputs[0]!;
  const probabilities = emitModel(b, models.head, [features]);
  if (probabilities.shape.length !== 1) throw internal('needs a head that outputs [batch, classes] probabilities');
  const classes = probabilities.shape[0]!;
  const dims: Dim[] = ['batch', classes];
  const names = { labels: 'labels', loss: 'loss', probabilities: 'probabilities', gradients: weights.map((_, i) => `gradient_${i}`) };
  b.g.output(names.probabilities, dims, probabilities.name);
  if (training) {
    b.g.input(names.labels, dims);
    b.g.output(names.loss, [], crossEntropy(b, probabilities.name, names.labels));
    b.runBackward();
    weights.forEach((w, i) => b.g.output(names.gradients[i]!, w.shape as number[], b.grad(weightInputs[i]!)));
  }
  return { bytes: b.g.encode(training ? 'facetrain_step' : 'facetrain_forward'), boundary, dropout: b.dropout, weights: weightInputs, classes, ...names };
}
