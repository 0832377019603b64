import * as flatbuffers from 'flatbuffers';
import { FacetrainError } from '../errors.js';
import type { ExportableRecognizer, ExportOptions } from './types.js';
import { type ConvOp, type DenseOp, type IrGraph, type IrOp, soleOutput, unsupported, type WeightedOp } from '../graph/ir.js';
import { calibrate } from './calibrate.js';
import { type Int8Plan, type QuantizedLayer, type Quantization, correctBiases, planInt8 } from './quantize.js';
import { subgraphFor } from './subgraph.js';
import { float32ToFloat16 } from './float16.js';
import { buildClassifierMetadata, buildNetworkMetadata, LABELS_FILE, METADATA_BUFFER_NAME, type NetworkMetadata } from './tflite-metadata.js';
import {
  ActivationFunctionType,
  AddOptions,
  Buffer as TfliteBuffer,
  BuiltinOperator,
  BuiltinOptions,
  Conv2DOptions,
  DepthwiseConv2DOptions,
  FullyConnectedOptions,
  FullyConnectedOptionsWeightsFormat,
  L2NormOptions,
  Metadata,
  Model,
  Operator,
  OperatorCode,
  Padding,
  QuantizationDetails,
  QuantizationParameters,
  ReducerOptions,
  ReshapeOptions,
  SoftmaxOptions,
  SubGraph,
  Tensor,
  TensorType,
} from '../graph/tflite-schema/generated/schema_generated.js';
import { concatBytes, zipStored } from './zip.js';

/**
 * TFLite emitter. One NHWC subgraph, batch 1: input `input` [1, H, W, 3] (float32, or uint8/int8
 * for full-integer models), output `probabilities` [1, classes] (the recognition pipeline: its
 * four named outputs, float32 in every precision). Three weight treatments:
 *  - float32: everything float32;
 *  - float16: float constants stored as FLOAT16 and expanded by DEQUANTIZE ops (as TF's
 *    converter with target_spec.supported_types = [float16]);
 *  - int8: full-integer post-training quantization as TF's converter does it: int8 activations
 *    (asymmetric, per tensor, ranges calibrated on representative inputs), int8 symmetric
 *    per-channel conv weights, per-tensor dense weights, int32 biases at input_scale * weight_scale,
 *    uint8 or int8 model input/output through QUANTIZE ops. A pipeline quantizes its embedding
 *    network only (PReLU and the mirror image included): the L2 normalisation, head and
 *    template match stay float after a DEQUANTIZE, so the unknown score keeps float precision,
 *    and the input is float32, quantized in the graph.
 */

export type TfliteFormat = 'tflite' | 'tflite-fp16' | 'tflite-int8';
type Int8Io = NonNullable<ExportOptions['int8Io']>;
type Mode = 'float32' | 'float16' | 'int8';

export const TFLITE_INPUT = 'input';
export const TFLITE_OUTPUT = 'probabilities';

export interface TensorSpec {
  name: string;
  shape: number[];
  type: TensorType;
  data?: Uint8Array;
  quantization?: Quantization;
}

export interface OptionsSpec {
  type: BuiltinOptions;
  write: (b: flatbuffers.Builder) => number;
}

export interface OpSpec {
  code: BuiltinOperator;
  version: number;
  inputs: number[];
  outputs: number[];
  options?: OptionsSpec;
}

/** Operators and option tables past the end of the schema subset (numbers from TFLite's schema.fbs). */
const BUILTIN = { GATHER: 36, PRELU: 54, ARG_MAX: 56, REDUCE_MAX: 82, REVERSE_V2: 105 } as unknown as Record<'GATHER' | 'PRELU' | 'ARG_MAX' | 'REDUCE_MAX' | 'REVERSE_V2', BuiltinOperator>;
const BUILTIN_OPTIONS = { GatherOptions: 23, ArgMaxOptions: 40 } as unknown as Record<'GatherOptions' | 'ArgMaxOptions', BuiltinOptions>;

const ACTIVATIONS = { none: ActivationFunctionType.NONE, relu: ActivationFunctionType.RELU, relu6: ActivationFunctionType.RELU6 } as const;

export function bytes(view: Float32Array | Int32Array | Int8Array | Uint16Array): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** HWIO -> OHWI, TFLite's conv filter layout. */
function convFilterOhwi<T extends Float32Array | Int8Array>(op: ConvOp, data: T): T {
  const [kh, kw, inC, outC] = op.filter.shape;
  const out = data.slice() as T;
  for (let h = 0; h < kh; h++)
    for (let w = 0; w < kw; w++)
      for (let i = 0; i < inC; i++)
        for (let o = 0; o < outC; o++) out[((o * kh + h) * kw + w) * inC + i] = data[((h * kw + w) * inC + i) * outC + o];
  return out;
}

/** [in, out] -> [out, in], TFLite's fully-connected weight layout. */
function denseWeightsOi<T extends Float32Array | Int8Array>(op: DenseOp, data: T): T {
  const [inN, outN] = op.kernel.shape;
  const out = data.slice() as T;
  for (let i = 0; i < inN; i++) for (let o = 0; o < outN; o++) out[o * inN + i] = data[i * outN + o];
  return out;
}

class TfliteGraphBuilder {
  readonly tensors: TensorSpec[] = [];
  readonly ops: OpSpec[] = [];
  private readonly ids = new Map<string, number>();
  inputId = -1;
  outputIds: number[] = [];
  /** int8 mode: the op being emitted lies past the quantized network (a pipeline's float tail). */
  private floatOp = false;
  /** Float copies (DEQUANTIZE) of int8 tensors that float ops read, by the int8 tensor's id. */
  private readonly dequantized = new Map<number, number>();

  constructor(
    private readonly ir: IrGraph,
    private readonly mode: Mode,
    private readonly plan?: Int8Plan,
  ) {}

  addTensor(spec: TensorSpec): number {
    this.tensors.push(spec);
    return this.tensors.length - 1;
  }

  op(code: BuiltinOperator, inputs: number[], outputs: number[], options?: OptionsSpec, version = 1): void {
    this.ops.push({ code, version, inputs, outputs, options });
  }

  /** Whether the op being emitted computes in int8. */
  private get int8(): boolean {
    return this.mode === 'int8' && !this.floatOp;
  }

  /** Integer ops need newer kernel versions than their float forms. */
  private version(floatVersion: number, int8Version: number): number {
    return this.int8 ? int8Version : floatVersion;
  }

  quantizationOf(name: string): Quantization {
    const q = this.plan?.activations.get(name);
    if (!q) throw new Error(`no int8 quantization for ${name}`);
    return q;
  }

  /** The tensor of an IR value as the op being emitted reads it: a float op reading an int8 tensor gets its DEQUANTIZE. */
  id(name: string): number {
    const id = this.ids.get(name);
    if (id === undefined) throw new Error(`TFLite tensor for ${name} not emitted yet`);
    if (this.int8 || this.tensors[id]!.type !== TensorType.INT8) return id;
    let float = this.dequantized.get(id);
    if (float === undefined) {
      float = this.addTensor({ name: `${name}/dequantized`, shape: this.tensors[id]!.shape, type: TensorType.FLOAT32 });
      this.op(BuiltinOperator.DEQUANTIZE, [id], [float], undefined, 2);
      this.dequantized.set(id, float);
    }
    return float;
  }

  /** The activation tensor of an IR value, int8 with the plan's quantization in int8 mode. */
  activation(name: string): number {
    const shape = this.ir.shapes.get(name) as number[];
    const id =
      this.int8
        ? this.addTensor({ name, shape, type: TensorType.INT8, quantization: this.quantizationOf(name) })
        : this.addTensor({ name, shape, type: TensorType.FLOAT32 });
    this.ids.set(name, id);
    return id;
  }

  /** A float constant; float16 mode stores half precision and expands it with DEQUANTIZE. */
  floatConst(name: string, shape: number[], data: Float32Array): number {
    if (this.mode !== 'float16') return this.addTensor({ name, shape, type: TensorType.FLOAT32, data: bytes(data) });
    const half = this.addTensor({ name: `${name}/fp16`, shape, type: TensorType.FLOAT16, data: bytes(float32ToFloat16(data)) });
    const full = this.addTensor({ name, shape, type: TensorType.FLOAT32 });
    this.op(BuiltinOperator.DEQUANTIZE, [half], [full], undefined, 3);
    return full;
  }

  int32Const(name: string, values: number[], shape = [values.length], quantization?: Quantization): number {
    return this.addTensor({ name, shape, type: TensorType.INT32, data: bytes(Int32Array.from(values)), quantization });
  }

  /** Weights and bias of a conv/dense: float, or the plan's int8 weights and int32 bias. `toTflite` permutes IR layout to TFLite's. */
  weightsAndBias<T extends WeightedOp>(op: T, shape: number[], toTflite: <A extends Float32Array | Int8Array>(op: T, data: A) => A, perChannelAxis?: number): [number, number] {
    const channels = op.bias.length;
    const floats = op.kind === 'dense' ? op.kernel.data : op.filter.data;
    if (!this.int8) {
      return [this.floatConst(`${op.output}/weights`, shape, toTflite(op, floats)), this.floatConst(`${op.output}/bias`, [channels], op.bias)];
    }
    const layer = this.plan?.layers.get(op.output) as QuantizedLayer;
    const weights = this.addTensor({
      name: `${op.output}/weights`,
      shape,
      type: TensorType.INT8,
      data: bytes(toTflite(op, layer.weights)),
      quantization: { scale: layer.weightScale, zeroPoint: layer.weightScale.map(() => 0), dimension: perChannelAxis ?? 0 },
    });
    const bias = this.addTensor({
      name: `${op.output}/bias`,
      shape: [channels],
      type: TensorType.INT32,
      data: bytes(layer.bias),
      quantization: { scale: layer.biasScale, zeroPoint: layer.biasScale.map(() => 0), dimension: 0 },
    });
    return [weights, bias];
  }

  conv(op: ConvOp): void {
    const [kh, kw, inC, last] = op.filter.shape;
    const padding = op.padding === 'same' ? Padding.SAME : Padding.VALID;
    const activation = ACTIVATIONS[op.activation];
    const [sh, sw] = op.strides;
    const [dh, dw] = op.dilations;
    if (op.kind === 'conv2d') {
      const [weights, bias] = this.weightsAndBias(op, [last, kh, kw, inC], convFilterOhwi, 0);
      const write = (b: flatbuffers.Builder) => Conv2DOptions.createConv2DOptions(b, padding, sw, sh, activation, dw, dh);
      this.op(BuiltinOperator.CONV_2D, [this.id(op.input), weights, bias], [this.activation(op.output)], { type: BuiltinOptions.Conv2DOptions, write }, this.version(1, 3));
      return;
    }
    // [kh, kw, in, mult] is already [1, kh, kw, in * mult] in memory.
    const [weights, bias] = this.weightsAndBias(op, [1, kh, kw, inC * last], (_, data) => data, 3);
    const write = (b: flatbuffers.Builder) => DepthwiseConv2DOptions.createDepthwiseConv2DOptions(b, padding, sw, sh, last, activation, dw, dh);
    this.op(BuiltinOperator.DEPTHWISE_CONV_2D, [this.id(op.input), weights, bias], [this.activation(op.output)], { type: BuiltinOptions.DepthwiseConv2DOptions, write }, this.version(1, 3));
  }

  dense(op: DenseOp): void {
    const [inN, outN] = op.kernel.shape;
    const [weights, bias] = this.weightsAndBias(op, [outN, inN], denseWeightsOi);
    const write = (b: flatbuffers.Builder) =>
      FullyConnectedOptions.createFullyConnectedOptions(b, ACTIVATIONS[op.activation], FullyConnectedOptionsWeightsFormat.DEFAULT, false);
    this.op(BuiltinOperator.FULLY_CONNECTED, [this.id(op.input), weights, bias], [this.activation(op.output)], { type: BuiltinOptions.FullyConnectedOptions, write }, this.version(1, 4));
  }

  clip(op: Extract<IrOp, { kind: 'clip' }>): void {
    const input = this.id(op.input);
    if (op.min === 0 && (op.max === Infinity || op.max === 6)) {
      this.op(op.max === 6 ? BuiltinOperator.RELU6 : BuiltinOperator.RELU, [input], [this.activation(op.output)], undefined, this.version(1, 2));
      return;
    }
    if (this.int8) throw unsupported(`a clip to [${op.min}, ${op.max}] that is not relu or relu6 (${op.output})`, 'TFLite (int8)');
    let current = input;
    const bounds: [BuiltinOperator, number][] = [
      [BuiltinOperator.MAXIMUM, op.min],
      [BuiltinOperator.MINIMUM, op.max],
    ];
    const steps = bounds.filter(([, value]) => Number.isFinite(value));
    steps.forEach(([code, value], i) => {
      const out = i === steps.length - 1 ? this.activation(op.output) : this.addTensor({ name: `${op.output}/floor`, shape: this.ir.shapes.get(op.output) as number[], type: TensorType.FLOAT32 });
      this.op(code, [current, this.floatConst(`${op.output}/bound${i}`, [], Float32Array.of(value))], [out]);
      current = out;
    });
  }

  emit(op: IrOp): void {
    switch (op.kind) {
      case 'pad': {
        const [top, bottom, left, right] = op.pads;
        const paddings = this.int32Const(`${op.output}/paddings`, [0, 0, top, bottom, left, right, 0, 0], [4, 2]);
        const input = this.id(op.input);
        this.op(BuiltinOperator.PAD, [input, paddings], [this.activation(op.output)], undefined, this.version(1, 2));
        return;
      }
      case 'conv2d':
      case 'depthwiseConv2d':
        this.conv(op);
        return;
      case 'affine': {
        if (this.int8) throw unsupported(`a per-channel scale that does not follow a conv or dense layer (${op.output})`, 'TFLite (int8)');
        const channels = op.scale.length;
        const scaled = this.addTensor({ name: `${op.output}/scaled`, shape: this.ir.shapes.get(op.output) as number[], type: TensorType.FLOAT32 });
        this.op(BuiltinOperator.MUL, [this.id(op.input), this.floatConst(`${op.output}/scale`, [channels], op.scale)], [scaled]);
        this.op(BuiltinOperator.ADD, [scaled, this.floatConst(`${op.output}/offset`, [channels], op.offset)], [this.activation(op.output)]);
        return;
      }
      case 'clip':
        this.clip(op);
        return;
      case 'add': {
        const write = (b: flatbuffers.Builder) => AddOptions.createAddOptions(b, ActivationFunctionType.NONE);
        this.op(BuiltinOperator.ADD, op.inputs.map((n) => this.id(n)), [this.activation(op.output)], { type: BuiltinOptions.AddOptions, write }, this.version(1, 2));
        return;
      }
      case 'globalAveragePool': {
        const axes = this.int32Const(`${op.output}/axes`, [1, 2]);
        const write = (b: flatbuffers.Builder) => ReducerOptions.createReducerOptions(b, false);
        this.op(BuiltinOperator.MEAN, [this.id(op.input), axes], [this.activation(op.output)], { type: BuiltinOptions.ReducerOptions, write }, this.version(1, 2));
        return;
      }
      case 'flatten': {
        const shape = this.ir.shapes.get(op.output) as number[];
        const newShape = this.int32Const(`${op.output}/shape`, shape);
        const input = this.id(op.input);
        const write = (b: flatbuffers.Builder) => ReshapeOptions.createReshapeOptions(b, ReshapeOptions.createNewShapeVector(b, shape));
        this.op(BuiltinOperator.RESHAPE, [input, newShape], [this.activation(op.output)], { type: BuiltinOptions.ReshapeOptions, write });
        return;
      }
      case 'dense':
        this.dense(op);
        return;
      case 'softmax': {
        const write = (b: flatbuffers.Builder) => SoftmaxOptions.createSoftmaxOptions(b, 1);
        this.op(BuiltinOperator.SOFTMAX, [this.id(op.input)], [this.activation(op.output)], { type: BuiltinOptions.SoftmaxOptions, write }, this.version(1, 2));
        return;
      }
      case 'sigmoid':
        this.op(BuiltinOperator.LOGISTIC, [this.id(op.input)], [this.activation(op.output)], undefined, this.version(1, 2));
        return;
      case 'l2Normalize': {
        const write = (b: flatbuffers.Builder) => L2NormOptions.createL2NormOptions(b, ActivationFunctionType.NONE);
        this.op(BuiltinOperator.L2_NORMALIZATION, [this.id(op.input)], [this.activation(op.output)], { type: BuiltinOptions.L2NormOptions, write }, this.version(1, 2));
        return;
      }
      case 'groupMax':
      case 'pickAtArgMax':
        // the template match stays float (a pipeline's tail): int8 would round the unknown score to 1/128
        if (this.int8) throw unsupported(`IR op ${op.kind} (${op.output})`, 'TFLite (int8)');
        this.pipelineOp(op);
        return;
      case 'prelu':
      case 'mirrorWidth':
        this.pipelineOp(op);
        return;
    }
  }

  /** The ops only the recognition pipeline uses: PReLU, mirror (float or int8), per-person maximum, the head's person's score (float). */
  private pipelineOp(op: IrOp): void {
    switch (op.kind) {
      case 'prelu': {
        const shape = [op.slope.length];
        const quantized = this.int8 ? this.plan?.slopes.get(op.output) : undefined;
        const slope = quantized
          ? this.addTensor({ name: `${op.output}/slope`, shape, type: TensorType.INT8, data: bytes(quantized.values), quantization: { scale: [quantized.scale], zeroPoint: [0] } })
          : this.floatConst(`${op.output}/slope`, shape, op.slope);
        this.op(BUILTIN.PRELU, [this.id(op.input), slope], [this.activation(op.output)]);
        return;
      }
      case 'mirrorWidth':
        this.op(BUILTIN.REVERSE_V2, [this.id(op.input), this.int32Const(`${op.output}/axis`, [2])], [this.activation(op.output)], undefined, this.version(1, 3));
        return;
      case 'groupMax': {
        const [batch, columns] = this.ir.shapes.get(op.input) as [number, number];
        const groupedShape = [batch, op.groups, columns / op.groups];
        const grouped = this.addTensor({ name: `${op.output}/grouped`, shape: groupedShape, type: TensorType.FLOAT32 });
        const reshape = (b: flatbuffers.Builder) => ReshapeOptions.createReshapeOptions(b, ReshapeOptions.createNewShapeVector(b, groupedShape));
        this.op(BuiltinOperator.RESHAPE, [this.id(op.input), this.int32Const(`${op.output}/shape`, groupedShape)], [grouped], { type: BuiltinOptions.ReshapeOptions, write: reshape });
        const reducer = (b: flatbuffers.Builder) => ReducerOptions.createReducerOptions(b, false);
        this.op(BUILTIN.REDUCE_MAX, [grouped, this.int32Const(`${op.output}/axes`, [2])], [this.activation(op.output)], { type: BuiltinOptions.ReducerOptions, write: reducer });
        return;
      }
      default:
        throw unsupported(`IR op ${op.kind}`, 'TFLite');
      case 'pickAtArgMax': {
        // batch 1: ARG_MAX of the keys' row, then GATHER that column of the values ([1, 1])
        const [values, keys] = op.inputs;
        const at = this.addTensor({ name: `${op.output}/argmax`, shape: [1], type: TensorType.INT32 });
        const argMaxOptions = (b: flatbuffers.Builder) => {
          b.startObject(1);
          b.addFieldInt8(0, TensorType.INT32, TensorType.INT64);
          return b.endObject();
        };
        this.op(BUILTIN.ARG_MAX, [this.id(keys), this.int32Const(`${op.output}/axis`, [1])], [at], { type: BUILTIN_OPTIONS.ArgMaxOptions, write: argMaxOptions }, 2);
        const gatherOptions = (b: flatbuffers.Builder) => {
          b.startObject(2);
          b.addFieldInt32(0, 1, 0);
          return b.endObject();
        };
        this.op(BUILTIN.GATHER, [this.id(values), at], [this.activation(op.output)], { type: BUILTIN_OPTIONS.GatherOptions, write: gatherOptions });
        return;
      }
    }
  }

  /**
   * Model input/output tensors: float, or int8 ends requantized to uint8 when asked, or (`float32`)
   * a float input quantized in the graph and float outputs, so that an int8 file is fed and read as
   * the float one is. In int8 mode, ops the plan has no quantization for are written in float.
   */
  build(io: Int8Io, outputNames?: string[]): void {
    const inputName = this.ir.input.name;
    if (this.mode === 'int8' && io !== 'int8') {
      const q = this.quantizationOf(inputName);
      const external = io === 'uint8'
        ? this.addTensor({ name: TFLITE_INPUT, shape: this.ir.input.shape, type: TensorType.UINT8, quantization: { scale: q.scale, zeroPoint: [q.zeroPoint[0] + 128] } })
        : this.addTensor({ name: TFLITE_INPUT, shape: this.ir.input.shape, type: TensorType.FLOAT32 });
      this.op(BuiltinOperator.QUANTIZE, [external], [this.activation(inputName)], undefined, io === 'uint8' ? 2 : 1);
      this.inputId = external;
    } else {
      this.inputId = this.activation(inputName);
      this.tensors[this.inputId].name = TFLITE_INPUT;
    }
    for (const op of this.ir.ops) {
      this.floatOp = this.mode === 'int8' && !this.plan?.activations.has(op.output);
      this.emit(op);
    }
    // float outputs of an int8 model are read through a DEQUANTIZE
    this.floatOp = this.mode === 'int8' && io === 'float32';
    if (outputNames) {
      if ((this.mode === 'int8' && io !== 'float32') || outputNames.length !== this.ir.outputs.length) throw new Error(`internal error: ${outputNames.length} TFLite output names for ${this.ir.outputs.length} outputs (${this.mode}, ${io} ends)`);
      this.outputIds = this.ir.outputs.map((name, i) => {
        const id = this.id(name);
        this.tensors[id].name = outputNames[i]!;
        return id;
      });
      return;
    }
    const output = soleOutput(this.ir);
    const last = this.id(output);
    if (this.mode === 'int8' && io === 'uint8') {
      const q = this.tensors[last].quantization as Quantization;
      this.outputIds = [this.addTensor({ name: TFLITE_OUTPUT, shape: this.ir.shapes.get(output) as number[], type: TensorType.UINT8, quantization: { scale: q.scale, zeroPoint: [q.zeroPoint[0] + 128] } })];
      this.op(BuiltinOperator.QUANTIZE, [last], this.outputIds, undefined, 2);
    } else {
      this.outputIds = [last];
      this.tensors[last].name = TFLITE_OUTPUT;
    }
  }
}

/** Buffer data vectors aligned to 16 bytes as the schema's force_align asks (mmap-friendly). */
function alignedByteVector(b: flatbuffers.Builder, data: Uint8Array): number {
  b.startVector(1, data.length, 16);
  const inner = b as unknown as { space: number; bb: flatbuffers.ByteBuffer };
  inner.space -= data.length;
  inner.bb.setPosition(inner.space);
  inner.bb.bytes().set(data, inner.space);
  return b.endVector();
}

function writeQuantization(b: flatbuffers.Builder, q: Quantization): number {
  const scale = QuantizationParameters.createScaleVector(b, q.scale);
  const zeroPoint = QuantizationParameters.createZeroPointVector(b, q.zeroPoint.map((z) => BigInt(z)));
  return QuantizationParameters.createQuantizationParameters(b, 0, 0, scale, zeroPoint, QuantizationDetails.NONE, 0, q.dimension ?? 0);
}

/** The tensors and operators of one subgraph, as `serialize` writes them. */
export interface TfliteOps {
  tensors: TensorSpec[];
  ops: OpSpec[];
  inputId: number;
  outputIds: number[];
}

/** The .tflite flatbuffer of one subgraph, with TFLITE_METADATA when `metadata` is given. */
export function serialize(graph: TfliteOps, description: string, metadata?: Uint8Array): Uint8Array {
  const totalBytes = graph.tensors.reduce((n, t) => n + (t.data?.length ?? 0), 0);
  const b = new flatbuffers.Builder(totalBytes + (metadata?.length ?? 0) + 65536);
  const buffers: number[] = [TfliteBuffer.createBuffer(b, 0)];
  const tensorOffsets = graph.tensors.map((t) => {
    let bufferIndex = 0;
    if (t.data) {
      buffers.push(TfliteBuffer.createBuffer(b, alignedByteVector(b, t.data)));
      bufferIndex = buffers.length - 1;
    }
    const name = b.createString(t.name);
    const shape = Tensor.createShapeVector(b, t.shape);
    const quantization = t.quantization ? writeQuantization(b, t.quantization) : 0;
    Tensor.startTensor(b);
    Tensor.addShape(b, shape);
    Tensor.addType(b, t.type);
    Tensor.addBuffer(b, bufferIndex);
    Tensor.addName(b, name);
    if (quantization) Tensor.addQuantization(b, quantization);
    return Tensor.endTensor(b);
  });
  if (metadata) buffers.push(TfliteBuffer.createBuffer(b, alignedByteVector(b, metadata)));
  const metadataBuffer = buffers.length - 1;

  const codes: { code: BuiltinOperator; version: number }[] = [];
  const opOffsets = graph.ops.map((op) => {
    let index = codes.findIndex((c) => c.code === op.code && c.version === op.version);
    if (index < 0) index = codes.push({ code: op.code, version: op.version }) - 1;
    const options = op.options ? op.options.write(b) : 0;
    const inputs = Operator.createInputsVector(b, op.inputs);
    const outputs = Operator.createOutputsVector(b, op.outputs);
    Operator.startOperator(b);
    Operator.addOpcodeIndex(b, index);
    Operator.addInputs(b, inputs);
    Operator.addOutputs(b, outputs);
    if (op.options) {
      Operator.addBuiltinOptionsType(b, op.options.type);
      Operator.addBuiltinOptions(b, options);
    }
    return Operator.endOperator(b);
  });
  // Codes below 127 also go in the deprecated byte field, which older runtimes read.
  const codeOffsets = codes.map((c) => OperatorCode.createOperatorCode(b, Math.min(c.code, 127), 0, c.version, c.code));
  const subgraph = SubGraph.createSubGraph(
    b,
    SubGraph.createTensorsVector(b, tensorOffsets),
    SubGraph.createInputsVector(b, [graph.inputId]),
    SubGraph.createOutputsVector(b, graph.outputIds),
    SubGraph.createOperatorsVector(b, opOffsets),
    b.createString('main'),
  );
  const metadataEntries = metadata ? [Metadata.createMetadata(b, b.createString(METADATA_BUFFER_NAME), metadataBuffer)] : [];
  const model = Model.createModel(
    b,
    3,
    Model.createOperatorCodesVector(b, codeOffsets),
    Model.createSubgraphsVector(b, [subgraph]),
    b.createString(description),
    Model.createBuffersVector(b, buffers),
    0,
    Model.createMetadataVector(b, metadataEntries),
  );
  Model.finishModelBuffer(b, model);
  return b.asUint8Array();
}

export interface TfliteExportRequest {
  format: TfliteFormat;
  recognizer: ExportableRecognizer;
  name: string;
  options: ExportOptions;
  /**
   * For the recognition pipeline: its outputs, described, pipeline.json packed beside labels.txt,
   * and (int8) the tensor the quantized part ends at: what follows it is written in float, input
   * and outputs included, so the int8 file is fed and read as the float one.
   */
  pipeline?: { outputs: { name: string; description: string }[]; descriptionFile: { name: string; text: string }; quantizeUntil?: string };
}

const MODES: Record<TfliteFormat, Mode> = { tflite: 'float32', 'tflite-fp16': 'float16', 'tflite-int8': 'int8' };

/** The .tflite bytes: flatbuffer with TFLITE_METADATA, then the zip holding labels.txt. */
export function irToTflite(ir: IrGraph, request: TfliteExportRequest): Uint8Array {
  const { options } = request;
  if (MODES[request.format] !== 'int8') return tfliteBytes(ir, request);
  if (!options.representativeInputs) {
    throw new FacetrainError('FT_ERR_INVALID_OPTION', 'tflite-int8 needs representative inputs to calibrate on; pass a few dozen training photos as representativeInputs');
  }
  const until = request.pipeline?.quantizeUntil;
  const quantized = until ? subgraphFor(ir, [until]) : ir;
  const plan = planInt8(quantized, calibrate(quantized, options.representativeInputs));
  correctBiases(quantized, plan, options.representativeInputs);
  return tfliteBytes(ir, request, plan);
}

/** The .tflite bytes of `ir` in the request's format; int8 writes `plan`'s quantization. */
function tfliteBytes(ir: IrGraph, request: TfliteExportRequest, plan?: Int8Plan): Uint8Array {
  const mode = MODES[request.format];
  const { recognizer, options } = request;
  const graph = new TfliteGraphBuilder(ir, mode, plan);
  const { pipeline } = request;
  graph.build(options.int8Io ?? (pipeline ? 'float32' : 'uint8'), pipeline?.outputs.map((o) => o.name));
  const metadata = buildClassifierMetadata({
    name: request.name,
    description: `Recognises ${recognizer.labels.length} people from a face photo (facetrain, ${mode}).`,
    imageSize: recognizer.input.size,
    mean: recognizer.input.mean,
    std: recognizer.input.std,
    labelsFile: LABELS_FILE,
    ...(pipeline ? {
      outputs: pipeline.outputs.map((o) => ({ ...o, labels: o.name === TFLITE_OUTPUT })),
      modelFiles: [{ name: pipeline.descriptionFile.name, description: 'The recognition pipeline: detector, alignment, unknown rule and threshold (facetrain pipeline.json)' }],
    } : {}),
  });
  const files = [{ name: LABELS_FILE, text: `${recognizer.labels.join('\n')}\n` }];
  if (pipeline) files.push({ name: pipeline.descriptionFile.name, text: pipeline.descriptionFile.text });
  return withPackedFiles(serialize(graph, `facetrain ${request.name}`, metadata), files);
}

/** The model followed by the zip of its associated files, as the TFLite metadata tools pack them. */
export function withPackedFiles(model: Uint8Array, files: { name: string; text: string }[]): Uint8Array {
  const encoder = new TextEncoder();
  return concatBytes([model, zipStored(files.map((f) => ({ name: f.name, data: encoder.encode(f.text) })))]);
}

/**
 * A float32 network of the pipeline other than the recognizer (the landmark network read from
 * its ONNX), written by the same builder: input `input`, its outputs named `outputNames`, the
 * metadata's files (`metadata.modelFiles`) packed beside it.
 */
export function networkToTflite(ir: IrGraph, outputNames: string[], metadata: NetworkMetadata, files: { name: string; text: string }[]): Uint8Array {
  const graph = new TfliteGraphBuilder(ir, 'float32');
  graph.build('float32', outputNames);
  return withPackedFiles(serialize(graph, `facetrain ${metadata.name}`, buildNetworkMetadata(metadata)), files);
}
