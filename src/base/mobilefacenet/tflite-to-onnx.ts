import * as flatbuffers from 'flatbuffers';
import { samePadding } from '../../graph/ir.js';
import { type Attribute, int, ints, ModelProto, ONNX_FLOAT, type OnnxNode, rawBytes } from '../../graph/onnx-schema.js';
import {
  ActivationFunctionType,
  AddOptions,
  BuiltinOperator,
  Conv2DOptions,
  DepthwiseConv2DOptions,
  Model,
  MulOptions,
  Padding,
  SubOptions,
  TensorType,
  type SubGraph,
} from '../../graph/tflite-schema/generated/schema_generated.js';
import { FacetrainError } from '../../errors.js';

/**
 * Float32 TFLite -> ONNX (opset 13) for the operators face-embedding networks like MobileFaceNet use
 * (convolutions, depthwise convolutions, elementwise Add/Sub/Mul, ReLU, Abs, a final reshape to
 * [N, dims]). PReLU, which TFLite lowers to five elementwise ops (`relu(x) + c * (x - abs(x))`),
 * becomes one ONNX `PRelu` again (slope 2c): onnxruntime runs it in one pass instead of five. Written op by op instead of through the export IR because the IR has
 * no elementwise ops between two tensors other than Add. The ONNX model takes NHWC [batch, H, W, C]
 * (any batch: the file's fixed batch is dropped) and works in NCHW inside.
 */

export const EMBEDDING_INPUT = 'input';
export const EMBEDDING_OUTPUT = 'embedding';

/** ABS is past the end of the schema subset's enum. */
const BUILTIN_ABS = 101;


function unsupportedOp(what: string, label: string): FacetrainError {
  return new FacetrainError('FT_ERR_UNSUPPORTED', `${label}: ${what} is not supported by facetrain's TFLite-to-ONNX conversion; use a float32 model made of convolutions and elementwise ops`);
}

/** OHWI (conv) or 1HWC (depthwise) filters -> ONNX OIHW. */
function toOihw(data: Float32Array, [o, h, w, i]: number[], depthwise: boolean): { data: Float32Array; dims: number[] } {
  const out = new Float32Array(data.length);
  if (depthwise) {
    // [1, h, w, c] -> [c, 1, h, w]
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < i; c++) out[(c * h + y) * w + x] = data[(y * w + x) * i + c]!;
    return { data: out, dims: [i, 1, h, w] };
  }
  for (let oc = 0; oc < o; oc++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ic = 0; ic < i; ic++) {
    out[((oc * i + ic) * h + y) * w + x] = data[((oc * h + y) * w + x) * i + ic]!;
  }
  return { data: out, dims: [o, i, h, w] };
}

export interface TfliteToOnnxOptions {
  /** Write each lowered PReLU as one ONNX `PRelu` (default); false keeps TFLite's five ops (to compare). */
  fusePRelu: boolean;
}

export function tfliteToOnnx(bytes: Uint8Array, label: string, options: Partial<TfliteToOnnxOptions> = {}): Uint8Array {
  const fusePRelu = options.fusePRelu ?? true;
  const bb = new flatbuffers.ByteBuffer(bytes);
  if (!Model.bufferHasIdentifier(bb)) throw new FacetrainError('FT_ERR_MODEL', `${label} is not a TFLite model (identifier TFL3 missing); reinstall facetrain's dependencies`);
  const model = Model.getRootAsModel(bb);
  const graph = model.subgraphs(0) as SubGraph;
  const nodes: OnnxNode[] = [];
  const initializers: { name: string; dims: number[]; data_type: number; raw_data: Uint8Array }[] = [];
  let counter = 0;
  const unique = (base: string): string => `${base}__${counter++}`;
  const node = (op_type: string, input: string[], output: string, attribute: Attribute[] = []): string => {
    nodes.push({ op_type, name: unique(op_type), input, output: [output], attribute });
    return output;
  };
  const tensor = (index: number) => graph.tensors(index)!;
  const shapeOf = (index: number): number[] => Array.from(tensor(index).shapeArray() ?? []);
  const constData = (index: number): Float32Array | undefined => {
    const t = tensor(index);
    const data = model.buffers(t.buffer())?.dataArray();
    if (!data || data.length === 0) return undefined;
    if (t.type() !== TensorType.FLOAT32) throw unsupportedOp(`constant ${t.name()} of type ${TensorType[t.type()]}`, label);
    return new Float32Array(data.slice().buffer);
  };
  const initializer = (base: string, dims: number[], data: Float32Array): string => {
    const name = unique(base);
    initializers.push({ name, dims, data_type: ONNX_FLOAT, raw_data: rawBytes(data) });
    return name;
  };
  // Every activation tensor's ONNX name; constants are added on first use in the layout the op needs.
  const names = new Map<number, string>();
  const inputIndex = graph.inputs(0)!;
  const outputIndex = graph.outputs(0)!;
  const [, height, width, channels] = shapeOf(inputIndex);
  names.set(inputIndex, node('Transpose', [EMBEDDING_INPUT], unique('nchw'), [ints('perm', [0, 3, 1, 2])]));
  const activationOf = (index: number): string => {
    const name = names.get(index);
    if (!name) throw unsupportedOp(`tensor ${tensor(index).name()} used before it is computed`, label);
    return name;
  };
  /** A constant operand of an elementwise op: per-channel values broadcast over NCHW as [C, 1, 1]. */
  const elementwiseOperand = (index: number): string => {
    const data = constData(index);
    if (!data) return activationOf(index);
    return initializer('operand', data.length === 1 ? [] : [data.length, 1, 1], data);
  };
  const fused = (kind: ActivationFunctionType, input: string, output: string): string => {
    if (kind === ActivationFunctionType.NONE) return node('Identity', [input], output);
    if (kind === ActivationFunctionType.RELU) return node('Relu', [input], output);
    if (kind === ActivationFunctionType.RELU6) {
      return node('Clip', [input, initializer('clip_min', [], Float32Array.of(0)), initializer('clip_max', [], Float32Array.of(6))], output);
    }
    throw unsupportedOp(`fused activation ${ActivationFunctionType[kind]}`, label);
  };

  // How many operators read each tensor: a PReLU's inner tensors must be read by the pattern alone.
  const readers = new Map<number, number>();
  for (let i = 0; i < graph.operatorsLength(); i++) for (const t of graph.operators(i)!.inputsArray() ?? []) readers.set(t, (readers.get(t) ?? 0) + 1);
  readers.set(outputIndex, (readers.get(outputIndex) ?? 0) + 1);
  const builtinOf = (i: number): number => {
    const code = model.operatorCodes(graph.operators(i)!.opcodeIndex())!;
    return Math.max(code.builtinCode(), code.deprecatedBuiltinCode());
  };
  /**
   * PReLU as TFLite lowers it, ops i..i+4: r = RELU(x), a = ABS(x), s = SUB(x, a), m = MUL(c, s),
   * ADD(r, m) (operands of MUL and ADD in either order, c constant per channel or scalar): slope 2c
   * for x < 0 (x - |x| = 2x there, 0 above). Returns the slope and the ADD's output, or undefined.
   */
  const preluAt = (i: number): { x: number; slope: Float32Array; out: number } | undefined => {
    if (i + 4 >= graph.operatorsLength()) return undefined;
    const ops = [0, 1, 2, 3, 4].map((k) => graph.operators(i + k)!);
    const kinds = [BuiltinOperator.RELU, BUILTIN_ABS, BuiltinOperator.SUB, BuiltinOperator.MUL, BuiltinOperator.ADD];
    if (kinds.some((kind, k) => builtinOf(i + k) !== kind)) return undefined;
    const ins = ops.map((op) => Array.from(op.inputsArray() ?? []));
    const outs = ops.map((op) => op.outputs(0)!);
    const [relu, abs, sub, mul] = outs as [number, number, number, number];
    const x = ins[0]![0]!;
    if (ins[1]![0] !== x || ins[2]![0] !== x || ins[2]![1] !== abs) return undefined;
    const constant = ins[3]!.find((t) => t !== sub);
    if (constant === undefined || !ins[3]!.includes(sub) || constData(constant) === undefined) return undefined;
    if (!(ins[4]!.includes(relu) && ins[4]!.includes(mul))) return undefined;
    const noFused = [SubOptions, MulOptions, AddOptions].every((Options, k) => {
      const options = ops[k + 2]!.builtinOptions(new Options()) as SubOptions | MulOptions | AddOptions | null;
      return (options?.fusedActivationFunction() ?? ActivationFunctionType.NONE) === ActivationFunctionType.NONE;
    });
    if (!noFused || [relu, abs, sub, mul].some((t) => readers.get(t) !== 1)) return undefined;
    return { x, slope: constData(constant)!.map((c) => 2 * c), out: outs[4]! };
  };

  for (let i = 0; i < graph.operatorsLength(); i++) {
    const prelu = fusePRelu ? preluAt(i) : undefined;
    if (prelu) {
      const slope = initializer('prelu_slope', prelu.slope.length === 1 ? [] : [prelu.slope.length, 1, 1], prelu.slope);
      names.set(prelu.out, node('PRelu', [activationOf(prelu.x), slope], unique(tensor(prelu.out).name() ?? 'prelu')));
      i += 4;
      continue;
    }
    const op = graph.operators(i)!;
    const code = model.operatorCodes(op.opcodeIndex())!;
    const builtin = Math.max(code.builtinCode(), code.deprecatedBuiltinCode());
    const inputs = Array.from(op.inputsArray() ?? []);
    const out = op.outputs(0)!;
    const outName = unique(tensor(out).name() ?? 'tensor');
    switch (builtin) {
      case BuiltinOperator.CONV_2D:
      case BuiltinOperator.DEPTHWISE_CONV_2D: {
        const depthwise = builtin === BuiltinOperator.DEPTHWISE_CONV_2D;
        const options = depthwise ? (op.builtinOptions(new DepthwiseConv2DOptions()) as DepthwiseConv2DOptions) : (op.builtinOptions(new Conv2DOptions()) as Conv2DOptions);
        if (depthwise && (options as DepthwiseConv2DOptions).depthMultiplier() > 1) throw unsupportedOp('a depth multiplier above 1', label);
        const filterShape = shapeOf(inputs[1]!);
        const filter = toOihw(constData(inputs[1]!)!, filterShape, depthwise);
        const [, kh, kw] = filterShape;
        const [, inH, inW, inC] = shapeOf(inputs[0]!);
        const strides = [options.strideH(), options.strideW()];
        const dilations = [options.dilationHFactor() || 1, options.dilationWFactor() || 1];
        const [top, bottom] = options.padding() === Padding.SAME ? samePadding(inH!, kh!, strides[0]!, dilations[0]!) : [0, 0];
        const [left, right] = options.padding() === Padding.SAME ? samePadding(inW!, kw!, strides[1]!, dilations[1]!) : [0, 0];
        const bias = inputs[2] !== undefined && inputs[2] >= 0 ? constData(inputs[2]) : undefined;
        const conv = node(
          'Conv',
          [activationOf(inputs[0]!), initializer('filter', filter.dims, filter.data), ...(bias ? [initializer('bias', [bias.length], bias)] : [])],
          unique('conv'),
          [ints('kernel_shape', [kh!, kw!]), ints('strides', strides), ints('dilations', dilations), ints('pads', [top, left, bottom, right]), int('group', depthwise ? inC! : 1)],
        );
        names.set(out, fused(options.fusedActivationFunction(), conv, outName));
        break;
      }
      case BuiltinOperator.ADD:
      case BuiltinOperator.SUB:
      case BuiltinOperator.MUL: {
        const Options = builtin === BuiltinOperator.ADD ? AddOptions : builtin === BuiltinOperator.SUB ? SubOptions : MulOptions;
        const options = op.builtinOptions(new Options()) as AddOptions | SubOptions | MulOptions | null;
        const onnxOp = builtin === BuiltinOperator.ADD ? 'Add' : builtin === BuiltinOperator.SUB ? 'Sub' : 'Mul';
        const result = node(onnxOp, [elementwiseOperand(inputs[0]!), elementwiseOperand(inputs[1]!)], unique(onnxOp.toLowerCase()));
        names.set(out, fused(options?.fusedActivationFunction() ?? ActivationFunctionType.NONE, result, outName));
        break;
      }
      case BuiltinOperator.RELU:
        names.set(out, node('Relu', [activationOf(inputs[0]!)], outName));
        break;
      case BUILTIN_ABS:
        names.set(out, node('Abs', [activationOf(inputs[0]!)], outName));
        break;
      case BuiltinOperator.RESHAPE: {
        const target = shapeOf(out);
        if (target.length !== 2) throw unsupportedOp(`a reshape to rank ${target.length}`, label);
        names.set(out, node('Flatten', [activationOf(inputs[0]!)], outName, [int('axis', 1)]));
        break;
      }
      default:
        throw unsupportedOp(`operator ${BuiltinOperator[builtin] ?? `#${builtin}`}`, label);
    }
  }
  node('Identity', [activationOf(outputIndex)], EMBEDDING_OUTPUT);
  const dims = shapeOf(outputIndex)[1]!;
  const valueInfo = (name: string, shape: (number | string)[]) => ({
    name,
    type: { tensor_type: { elem_type: ONNX_FLOAT, shape: { dim: shape.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) } } },
  });
  const onnx = {
    ir_version: 8,
    producer_name: 'facetrain',
    opset_import: [{ domain: '', version: 13 }],
    graph: {
      name: label,
      node: nodes,
      initializer: initializers,
      input: [valueInfo(EMBEDDING_INPUT, ['batch', height!, width!, channels!])],
      output: [valueInfo(EMBEDDING_OUTPUT, ['batch', dims])],
    },
  };
  const error = ModelProto.verify(onnx);
  if (error) throw new Error(`internal error building ONNX model: ${error}`);
  return ModelProto.encode(ModelProto.fromObject(onnx)).finish();
}
