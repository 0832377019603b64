import { type ConvOp, type IrGraph, type IrOp, L2_EPSILON, samePadding, unsupported } from './ir.js';
import { type Attribute, int, ints, ModelProto, ONNX_FLOAT, ONNX_INT64, type OnnxNode, rawBytes } from './onnx-schema.js';

/**
 * ONNX emitter (opset 13, IR version 8). The model keeps the NHWC input of TF.js and TFLite
 * (`input`: [batch, H, W, C] float32, already normalised) and transposes once to NCHW inside;
 * every 4-D tensor after that is NCHW. Output `probabilities`: [batch, classes].
 */

export const ONNX_OPSET = 13;
export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'probabilities';

/** One node type for every ONNX writer (defined beside the schema). */
export type { OnnxNode };

export interface OnnxInitializer {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

class OnnxGraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  private counter = 0;

  constructor(private readonly graph: IrGraph) {}

  unique(base: string): string {
    return `${base}__${this.counter++}`;
  }

  floatConst(base: string, dims: number[], data: Float32Array): string {
    const name = this.unique(base);
    this.initializers.push({ name, dims, data_type: ONNX_FLOAT, raw_data: rawBytes(data) });
    return name;
  }

  int64Const(base: string, values: number[]): string {
    const name = this.unique(base);
    this.initializers.push({ name, dims: [values.length], data_type: ONNX_INT64, raw_data: rawBytes(BigInt64Array.from(values.map(BigInt))) });
    return name;
  }

  node(op_type: string, input: string[], output: string, attribute: Attribute[] = []): string {
    this.nodes.push({ op_type, name: this.unique(op_type), input, output: [output], attribute });
    return output;
  }

  rank(name: string): number {
    return this.graph.shapes.get(name)?.length ?? 0;
  }

  /** Per-channel constants broadcast over NCHW need shape [C, 1, 1]. */
  channelConst(base: string, values: Float32Array, rank: number): string {
    return this.floatConst(base, rank === 4 ? [values.length, 1, 1] : [values.length], values);
  }

  activation(kind: 'none' | 'relu' | 'relu6', input: string, output: string): string {
    if (kind === 'relu') return this.node('Relu', [input], output);
    if (kind === 'relu6') return this.clip(input, output, 0, 6);
    return input;
  }

  clip(input: string, output: string, min: number, max: number): string {
    if (min === 0 && max === Infinity) return this.node('Relu', [input], output);
    const bound = (value: number, base: string): string => (Number.isFinite(value) ? this.floatConst(base, [], Float32Array.of(value)) : '');
    return this.node('Clip', [input, bound(min, 'clip_min'), bound(max, 'clip_max')], output);
  }

  conv(op: ConvOp): string {
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
    const w = this.floatConst(`${op.output}/weights`, [outChannels, groupIn, kh, kw], weights);
    const b = this.floatConst(`${op.output}/bias`, [outChannels], op.bias);
    const raw = op.activation === 'none' ? op.output : this.unique(`${op.output}/linear`);
    this.node('Conv', [op.input, w, b], raw, attributes);
    return this.activation(op.activation, raw, op.output);
  }

  emit(op: IrOp): void {
    switch (op.kind) {
      case 'pad': {
        const [top, bottom, left, right] = op.pads;
        this.node('Pad', [op.input, this.int64Const('pads', [0, 0, top, left, 0, 0, bottom, right])], op.output);
        return;
      }
      case 'conv2d':
      case 'depthwiseConv2d':
        this.conv(op);
        return;
      case 'affine': {
        const rank = this.rank(op.input);
        const scaled = this.node('Mul', [op.input, this.channelConst('scale', op.scale, rank)], this.unique(`${op.output}/scaled`));
        this.node('Add', [scaled, this.channelConst('offset', op.offset, rank)], op.output);
        return;
      }
      case 'clip':
        this.clip(op.input, op.output, op.min, op.max);
        return;
      case 'add':
        this.node('Add', op.inputs, op.output);
        return;
      case 'globalAveragePool':
        this.node('ReduceMean', [op.input], op.output, [ints('axes', [2, 3]), int('keepdims', 0)]);
        return;
      case 'flatten': {
        // Keras flattens NHWC order; go back to it before flattening.
        const nhwc = this.node('Transpose', [op.input], this.unique(`${op.output}/nhwc`), [ints('perm', [0, 2, 3, 1])]);
        this.node('Flatten', [nhwc], op.output, [int('axis', 1)]);
        return;
      }
      case 'dense': {
        const w = this.floatConst(`${op.output}/kernel`, op.kernel.shape, op.kernel.data);
        const b = this.floatConst(`${op.output}/bias`, [op.bias.length], op.bias);
        const raw = op.activation === 'none' ? op.output : this.unique(`${op.output}/linear`);
        this.node('Gemm', [op.input, w, b], raw);
        this.activation(op.activation, raw, op.output);
        return;
      }
      case 'softmax':
        this.node('Softmax', [op.input], op.output, [int('axis', -1)]);
        return;
      case 'sigmoid':
        this.node('Sigmoid', [op.input], op.output);
        return;
      case 'l2Normalize': {
        const sumSquares = this.node('ReduceSumSquare', [op.input], this.unique('sum_squares'), [ints('axes', [-1]), int('keepdims', 1)]);
        const floored = this.node('Max', [sumSquares, this.floatConst('epsilon', [], Float32Array.of(L2_EPSILON))], this.unique('floored'));
        const norm = this.node('Sqrt', [floored], this.unique('norm'));
        this.node('Div', [op.input, norm], op.output);
        return;
      }
      case 'prelu':
        this.node('PRelu', [op.input, this.channelConst('slope', op.slope, this.rank(op.input))], op.output);
        return;
      case 'mirrorWidth':
        // NCHW: W is axis 3, read from its end backwards
        this.node('Slice', [op.input, this.int64Const('starts', [-1]), this.int64Const('ends', [-(2 ** 53)]), this.int64Const('axes', [3]), this.int64Const('steps', [-1])], op.output);
        return;
      case 'groupMax': {
        const grouped = this.node('Reshape', [op.input, this.int64Const('groups', [0, op.groups, -1])], this.unique(`${op.output}/grouped`));
        this.node('ReduceMax', [grouped], op.output, [ints('axes', [2]), int('keepdims', 0)]);
        return;
      }
      case 'pickAtArgMax': {
        const [values, keys] = op.inputs;
        const at = this.node('ArgMax', [keys], this.unique(`${op.output}/argmax`), [int('axis', 1), int('keepdims', 1), int('select_last_index', 0)]);
        this.node('GatherElements', [values, at], op.output, [int('axis', 1)]);
        return;
      }
      default:
        throw unsupported(`IR op ${(op as IrOp).kind}`, 'ONNX');
    }
  }
}

export function valueInfo(name: string, dims: (number | string)[]): object {
  return {
    name,
    type: { tensor_type: { elem_type: ONNX_FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) } } },
  };
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
  const b = new OnnxGraphBuilder(graph);
  const [, h, w, c] = graph.input.shape;
  b.node('Transpose', [ONNX_INPUT], graph.input.name, [ints('perm', [0, 3, 1, 2])]);
  for (const op of graph.ops) b.emit(op);
  const outputs = graph.outputs.map((irName, i) => {
    const shape = graph.shapes.get(irName) as number[];
    // 4-D outputs go back to the NHWC layout of the input and of the other runtimes.
    if (shape.length === 4) b.node('Transpose', [irName], outputNames[i]!, [ints('perm', [0, 2, 3, 1])]);
    else b.node('Identity', [irName], outputNames[i]!);
    return valueInfo(outputNames[i]!, ['batch', ...shape.slice(1)]);
  });
  const model = {
    ir_version: 8,
    producer_name: 'facetrain',
    producer_version: options.producerVersion,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    metadata_props: Object.entries(options.metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: options.name,
      node: b.nodes,
      initializer: b.initializers,
      input: [valueInfo(ONNX_INPUT, ['batch', h, w, c])],
      output: outputs,
    },
  };
  const error = ModelProto.verify(model);
  if (error) throw new Error(`internal error building ONNX model: ${error}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/** Reads metadata_props back from an exported file (for tests and `facetrain info <file.onnx>`). */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const model = ModelProto.toObject(ModelProto.decode(bytes)) as { metadata_props?: { key: string; value: string }[] };
  return Object.fromEntries((model.metadata_props ?? []).map((p) => [p.key, p.value]));
}
