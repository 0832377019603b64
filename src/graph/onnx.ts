import { type ConvOp, type IrGraph, type IrOp, L2_EPSILON, type PReluOp, samePadding, unsupported } from './ir.js';
import { OnnxGraph } from './onnx-graph.js';
import { int, ints, ModelProto, type OnnxNode } from './onnx-schema.js';

/**
 * ONNX emitter (opset 13, IR version 8). The model keeps the NHWC input of TF.js and TFLite
 * (`input`: [batch, H, W, C] float32, already normalised) and transposes once to NCHW inside;
 * every 4-D tensor after that is NCHW. Output `probabilities`: [batch, classes].
 */

export { ONNX_OPSET, type OnnxInitializer, valueInfo } from './onnx-graph.js';
export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'probabilities';

/** One node type for every ONNX writer (defined beside the schema). */
export type { OnnxNode };

/** Translates IR ops into nodes of one OnnxGraph; `shapes` are the IR's (NHWC, batch 1). */
class IrEmitter {
  constructor(
    private readonly g: OnnxGraph,
    private readonly graph: IrGraph,
  ) {}

  private rank(name: string): number {
    return this.graph.shapes.get(name)?.length ?? 0;
  }

  /** Per-channel constants broadcast over NCHW need shape [C, 1, 1]. */
  private channelConst(base: string, values: Float32Array, rank: number): string {
    return this.g.floatConst(values, rank === 4 ? [values.length, 1, 1] : [values.length], base);
  }

  private activation(kind: 'none' | 'relu' | 'relu6', input: string, output: string): string {
    if (kind === 'relu') return this.g.node('Relu', [input], output);
    if (kind === 'relu6') return this.clip(input, output, 0, 6);
    return input;
  }

  private clip(input: string, output: string, min: number, max: number): string {
    if (min === 0 && max === Infinity) return this.g.node('Relu', [input], output);
    const bound = (value: number, base: string): string => (Number.isFinite(value) ? this.g.floatConst([value], [], base) : '');
    return this.g.node('Clip', [input, bound(min, 'clip_min'), bound(max, 'clip_max')], output);
  }

  private conv(op: ConvOp): string {
    const [kh, kw, inChannels, last] = op.filter.shape;
    const outChannels = op.kind === 'conv2d' ? last : inChannels * last;
    // HWIO -> OIHW; depthwise [kh,kw,in,mult] -> [in*mult, 1, kh, kw] with group = in.
    const groupIn = op.kind === 'conv2d' ? inChannels : 1;
    const weights = new Float32Array(op.filter.data.length);
    for (let i = 0; i < kh; i++)
      for (let j = 0; j < kw; j++)
        for (let c = 0; c < inChannels; c++)
          for (let m = 0; m < last; m++) {
            const source = ((i * kw + j) * inChannels + c) * last + m;
            const [o, ic] = op.kind === 'conv2d' ? [m, c] : [c * last + m, 0];
            weights[((o * groupIn + ic) * kh + i) * kw + j] = op.filter.data[source];
          }
    const inShape = this.graph.shapes.get(op.input) as number[];
    const [top, bottom] = op.padding === 'same' ? samePadding(inShape[1], kh, op.strides[0], op.dilations[0]) : [0, 0];
    const [left, right] = op.padding === 'same' ? samePadding(inShape[2], kw, op.strides[1], op.dilations[1]) : [0, 0];
    const attributes = [
      ints('kernel_shape', [kh, kw]),
      ints('strides', op.strides),
      ints('dilations', op.dilations),
      ints('pads', [top, left, bottom, right]),
      int('group', op.kind === 'conv2d' ? 1 : inChannels),
    ];
    const w = this.g.floatConst(weights, [outChannels, groupIn, kh, kw], `${op.output}/weights`);
    const b = this.g.floatConst(op.bias, [outChannels], `${op.output}/bias`);
    const raw = op.activation === 'none' ? op.output : this.g.unique(`${op.output}/linear`);
    this.g.node('Conv', [op.input, w, b], raw, attributes);
    return this.activation(op.activation, raw, op.output);
  }

  /** x * weights[c] per channel c of an NCHW tensor: a 1x1 depthwise convolution (no bias). */
  private channelScale(input: string, weights: Float32Array, output: string): string {
    const channels = weights.length;
    return this.g.node('Conv', [input, this.g.floatConst(weights, [channels, 1, 1, 1], `${output}/weights`)], output, [ints('kernel_shape', [1, 1]), int('group', channels)]);
  }

  /**
   * PReLU on NCHW as x + (1 - slope) * relu(-x) (for x < 0: x - (1 - slope) * x = slope * x): two
   * 1x1 depthwise convolutions, onnxruntime fusing the ReLU into the first and the Add into the
   * second. It runs convolutions in its blocked NCHWc layout and its PRelu kernel is not: each PRelu
   * cost a reorder out of that layout and back plus a slow broadcast, 44 % of MobileFaceNet's kernel
   * time; these two stay in the layout (MobileFaceNet 0.74x the kernel time, bench `faces`).
   */
  private prelu(op: PReluOp): void {
    const g = this.g;
    if (this.rank(op.input) !== 4) {
      g.node('PRelu', [op.input, this.channelConst('slope', op.slope, this.rank(op.input))], op.output);
      return;
    }
    const negated = this.channelScale(op.input, new Float32Array(op.slope.length).fill(-1), g.unique(`${op.output}/negated`));
    const negativePart = g.node('Relu', [negated], g.unique(`${op.output}/negative_part`));
    const scaled = this.channelScale(negativePart, op.slope.map((slope) => 1 - slope), g.unique(`${op.output}/scaled`));
    g.node('Add', [op.input, scaled], op.output);
  }

  emit(op: IrOp): void {
    const g = this.g;
    switch (op.kind) {
      case 'pad': {
        const [top, bottom, left, right] = op.pads;
        g.node('Pad', [op.input, g.int64([0, 0, top, left, 0, 0, bottom, right])], op.output);
        return;
      }
      case 'conv2d':
      case 'depthwiseConv2d':
        this.conv(op);
        return;
      case 'affine': {
        const rank = this.rank(op.input);
        const scaled = g.node('Mul', [op.input, this.channelConst('scale', op.scale, rank)], g.unique(`${op.output}/scaled`));
        g.node('Add', [scaled, this.channelConst('offset', op.offset, rank)], op.output);
        return;
      }
      case 'clip':
        this.clip(op.input, op.output, op.min, op.max);
        return;
      case 'add':
        g.node('Add', op.inputs, op.output);
        return;
      case 'globalAveragePool':
        g.node('ReduceMean', [op.input], op.output, [ints('axes', [2, 3]), int('keepdims', 0)]);
        return;
      case 'flatten': {
        // Keras flattens NHWC order; go back to it before flattening.
        const nhwc = g.node('Transpose', [op.input], g.unique(`${op.output}/nhwc`), [ints('perm', [0, 2, 3, 1])]);
        g.node('Flatten', [nhwc], op.output, [int('axis', 1)]);
        return;
      }
      case 'dense': {
        const w = g.floatConst(op.kernel.data, op.kernel.shape, `${op.output}/kernel`);
        const b = g.floatConst(op.bias, [op.bias.length], `${op.output}/bias`);
        const raw = op.activation === 'none' ? op.output : g.unique(`${op.output}/linear`);
        g.node('Gemm', [op.input, w, b], raw);
        this.activation(op.activation, raw, op.output);
        return;
      }
      case 'softmax':
        g.node('Softmax', [op.input], op.output, [int('axis', -1)]);
        return;
      case 'sigmoid':
        g.node('Sigmoid', [op.input], op.output);
        return;
      case 'l2Normalize': {
        const sumSquares = g.node('ReduceSumSquare', [op.input], g.unique('sum_squares'), [ints('axes', [-1]), int('keepdims', 1)]);
        const floored = g.node('Max', [sumSquares, g.floatConst([L2_EPSILON], [], 'epsilon')], g.unique('floored'));
        const norm = g.node('Sqrt', [floored], g.unique('norm'));
        g.node('Div', [op.input, norm], op.output);
        return;
      }
      case 'prelu':
        this.prelu(op);
        return;
      case 'mirrorWidth':
        // NCHW: W is axis 3, read from its end backwards
        g.node('Slice', [op.input, g.int64([-1]), g.int64([-(2 ** 53)]), g.int64([3]), g.int64([-1])], op.output);
        return;
      case 'groupMax': {
        const grouped = g.node('Reshape', [op.input, g.int64([0, op.groups, -1])], g.unique(`${op.output}/grouped`));
        g.node('ReduceMax', [grouped], op.output, [ints('axes', [2]), int('keepdims', 0)]);
        return;
      }
      case 'pickAtArgMax': {
        const [values, keys] = op.inputs;
        const at = g.node('ArgMax', [keys], g.unique(`${op.output}/argmax`), [int('axis', 1), int('keepdims', 1), int('select_last_index', 0)]);
        g.node('GatherElements', [values, at], op.output, [int('axis', 1)]);
        return;
      }
      default:
        throw unsupported(`IR op ${(op as IrOp).kind}`, 'ONNX');
    }
  }
}

export interface OnnxOptions {
  /** Stored as model metadata_props (labels, preprocessing, ...): string keys and values. */
  metadata: Record<string, string>;
  producerVersion: string;
  name: string;
  /** Graph output names, one per IR output; default [ONNX_OUTPUT]. */
  outputNames?: string[];
}

export function irToOnnx(graph: IrGraph, options: OnnxOptions): Uint8Array {
  const outputNames = options.outputNames ?? [ONNX_OUTPUT];
  if (outputNames.length !== graph.outputs.length) throw new Error(`internal error: ${outputNames.length} ONNX output names for ${graph.outputs.length} outputs`);
  const g = new OnnxGraph();
  const emitter = new IrEmitter(g, graph);
  const [, h, w, c] = graph.input.shape;
  g.input(ONNX_INPUT, ['batch', h, w, c]);
  g.node('Transpose', [ONNX_INPUT], graph.input.name, [ints('perm', [0, 3, 1, 2])]);
  for (const op of graph.ops) emitter.emit(op);
  graph.outputs.forEach((irName, i) => {
    const shape = graph.shapes.get(irName) as number[];
    const dims = ['batch', ...shape.slice(1)];
    // 4-D outputs go back to the NHWC layout of the input and of the other runtimes.
    if (shape.length === 4) {
      g.node('Transpose', [irName], outputNames[i]!, [ints('perm', [0, 2, 3, 1])]);
      g.output(outputNames[i]!, dims);
    } else {
      g.output(outputNames[i]!, dims, irName);
    }
  });
  return g.encode(options.name, { metadata: options.metadata, producerVersion: options.producerVersion });
}

/** Reads metadata_props back from an exported file (for tests and `facetrain info <file.onnx>`). */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const model = ModelProto.toObject(ModelProto.decode(bytes)) as { metadata_props?: { key: string; value: string }[] };
  return Object.fromEntries((model.metadata_props ?? []).map((p) => [p.key, p.value]));
}
