import * as flatbuffers from 'flatbuffers';
import { FacetrainError } from '../errors.js';
import { type FusedActivation, IrBuilder, type IrGraph } from './ir.js';
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
} from './tflite-schema/generated/schema_generated.js';

/**
 * Float32 TFLite -> IR, for the operators face-embedding networks like MobileFaceNet use:
 * convolutions, depthwise convolutions, Add (residuals, or a constant), ReLU, the final reshape to
 * [N, dims], and PReLU, which TFLite lowers to five elementwise ops (`relu(x) + c * (x - abs(x))`)
 * and which is read back as one IR `prelu` (slope 2c). Every exporter and runtime then applies.
 */

/** ABS is past the end of the schema subset's enum. */
const BUILTIN_ABS = 101;

function unsupportedOp(what: string, label: string): FacetrainError {
  return new FacetrainError('FT_ERR_UNSUPPORTED', `${label}: ${what} is not supported by facetrain's TFLite reader; use a float32 model made of convolutions and elementwise ops`);
}

/** TFLite OHWI conv filters -> IR HWIO; depthwise [1, h, w, c] -> [h, w, c, 1] is the same memory. */
function ohwiToHwio(data: Float32Array, [o, h, w, i]: number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let oc = 0; oc < o!; oc++) for (let y = 0; y < h!; y++) for (let x = 0; x < w!; x++) for (let ic = 0; ic < i!; ic++) {
    out[((y * w! + x) * i! + ic) * o! + oc] = data[((oc * h! + y) * w! + x) * i! + ic]!;
  }
  return out;
}

function activationOf(kind: ActivationFunctionType, label: string): FusedActivation {
  if (kind === ActivationFunctionType.NONE) return 'none';
  if (kind === ActivationFunctionType.RELU) return 'relu';
  if (kind === ActivationFunctionType.RELU6) return 'relu6';
  throw unsupportedOp(`fused activation ${ActivationFunctionType[kind]}`, label);
}

/** A parsed float32 TFLite model, appendable to an IR builder (more than once: each use gets its own tensors). */
export class TfliteNetwork {
  private readonly model: Model;
  private readonly graph: SubGraph;

  constructor(
    bytes: Uint8Array,
    private readonly label: string,
  ) {
    const bb = new flatbuffers.ByteBuffer(bytes);
    if (!Model.bufferHasIdentifier(bb)) throw new FacetrainError('FT_ERR_MODEL', `${label} is not a TFLite model (identifier TFL3 missing); reinstall facetrain's dependencies`);
    this.model = Model.getRootAsModel(bb);
    this.graph = this.model.subgraphs(0) as SubGraph;
  }

  /** [1, H, W, C] of the network's input (the file's batch is dropped). */
  get inputShape(): number[] {
    return [1, ...this.shapeOf(this.graph.inputs(0)!).slice(1)];
  }

  private shapeOf(index: number): number[] {
    return Array.from(this.graph.tensors(index)!.shapeArray() ?? []);
  }

  private constData(index: number): Float32Array | undefined {
    const t = this.graph.tensors(index)!;
    const data = this.model.buffers(t.buffer())?.dataArray();
    if (!data || data.length === 0) return undefined;
    if (t.type() !== TensorType.FLOAT32) throw unsupportedOp(`constant ${t.name()} of type ${TensorType[t.type()]}`, this.label);
    return new Float32Array(data.slice().buffer);
  }

  private builtinOf(i: number): number {
    const code = this.model.operatorCodes(this.graph.operators(i)!.opcodeIndex())!;
    return Math.max(code.builtinCode(), code.deprecatedBuiltinCode());
  }

  /**
   * PReLU as TFLite lowers it, ops i..i+4: r = RELU(x), a = ABS(x), s = SUB(x, a), m = MUL(c, s),
   * ADD(r, m) (operands of MUL and ADD in either order, c constant): slope 2c for x < 0 (x - |x| = 2x there, 0 above).
   */
  private preluAt(i: number, readers: Map<number, number>): { x: number; slope: Float32Array; out: number } | undefined {
    const g = this.graph;
    if (i + 4 >= g.operatorsLength()) return undefined;
    const kinds = [BuiltinOperator.RELU, BUILTIN_ABS, BuiltinOperator.SUB, BuiltinOperator.MUL, BuiltinOperator.ADD];
    if (kinds.some((kind, k) => this.builtinOf(i + k) !== kind)) return undefined;
    const ops = [0, 1, 2, 3, 4].map((k) => g.operators(i + k)!);
    const ins = ops.map((op) => Array.from(op.inputsArray() ?? []));
    const outs = ops.map((op) => op.outputs(0)!);
    const [relu, abs, sub, mul] = outs as [number, number, number, number];
    const x = ins[0]![0]!;
    if (ins[1]![0] !== x || ins[2]![0] !== x || ins[2]![1] !== abs) return undefined;
    const constant = ins[3]!.find((t) => t !== sub);
    if (constant === undefined || !ins[3]!.includes(sub) || this.constData(constant) === undefined) return undefined;
    if (!(ins[4]!.includes(relu) && ins[4]!.includes(mul))) return undefined;
    const noFused = [SubOptions, MulOptions, AddOptions].every((Options, k) => {
      const options = ops[k + 2]!.builtinOptions(new Options()) as SubOptions | MulOptions | AddOptions | null;
      return (options?.fusedActivationFunction() ?? ActivationFunctionType.NONE) === ActivationFunctionType.NONE;
    });
    if (!noFused || [relu, abs, sub, mul].some((t) => readers.get(t) !== 1)) return undefined;
    return { x, slope: this.constData(constant)!.map((c) => 2 * c), out: outs[4]! };
  }

  /** Appends the network reading IR tensor `input`; returns its output tensor. */
  append(b: IrBuilder, input: string): string {
    const g = this.graph;
    const label = this.label;
    const names = new Map<number, string>([[g.inputs(0)!, input]]);
    const tensorName = (index: number): string => g.tensors(index)!.name() ?? `tensor${index}`;
    const activation = (index: number): string => {
      const name = names.get(index);
      if (!name) throw unsupportedOp(`tensor ${tensorName(index)} used before it is computed (or a constant where a tensor is expected)`, label);
      return name;
    };
    const readers = new Map<number, number>();
    for (let i = 0; i < g.operatorsLength(); i++) for (const t of g.operators(i)!.inputsArray() ?? []) readers.set(t, (readers.get(t) ?? 0) + 1);
    readers.set(g.outputs(0)!, (readers.get(g.outputs(0)!) ?? 0) + 1);
    for (let i = 0; i < g.operatorsLength(); i++) {
      const prelu = this.preluAt(i, readers);
      if (prelu) {
        names.set(prelu.out, b.add(tensorName(prelu.out), { kind: 'prelu', input: activation(prelu.x), slope: prelu.slope }));
        i += 4;
        continue;
      }
      const op = g.operators(i)!;
      const builtin = this.builtinOf(i);
      const inputs = Array.from(op.inputsArray() ?? []);
      const out = op.outputs(0)!;
      const name = tensorName(out);
      switch (builtin) {
        case BuiltinOperator.CONV_2D:
        case BuiltinOperator.DEPTHWISE_CONV_2D: {
          const depthwise = builtin === BuiltinOperator.DEPTHWISE_CONV_2D;
          const options = depthwise ? (op.builtinOptions(new DepthwiseConv2DOptions()) as DepthwiseConv2DOptions) : (op.builtinOptions(new Conv2DOptions()) as Conv2DOptions);
          if (depthwise && (options as DepthwiseConv2DOptions).depthMultiplier() > 1) throw unsupportedOp('a depth multiplier above 1', label);
          const shape = this.shapeOf(inputs[1]!);
          const raw = this.constData(inputs[1]!)!;
          const [o, kh, kw, ic] = shape as [number, number, number, number];
          const filter = depthwise ? { shape: [kh, kw, ic, 1], data: raw } : { shape: [kh, kw, ic, o], data: ohwiToHwio(raw, shape) };
          const channels = depthwise ? ic : o;
          const bias = inputs[2] !== undefined && inputs[2] >= 0 ? this.constData(inputs[2]) : undefined;
          names.set(out, b.add(name, {
            kind: depthwise ? 'depthwiseConv2d' : 'conv2d',
            input: activation(inputs[0]!),
            filter,
            bias: bias ?? new Float32Array(channels),
            strides: [options.strideH(), options.strideW()],
            dilations: [options.dilationHFactor() || 1, options.dilationWFactor() || 1],
            padding: options.padding() === Padding.SAME ? 'same' : 'valid',
            activation: activationOf(options.fusedActivationFunction(), label),
          }));
          break;
        }
        case BuiltinOperator.ADD: {
          const options = op.builtinOptions(new AddOptions()) as AddOptions | null;
          const fused = activationOf(options?.fusedActivationFunction() ?? ActivationFunctionType.NONE, label);
          const constants = inputs.map((t) => this.constData(t));
          let sum: string;
          if (constants.every((c) => c === undefined)) sum = b.add(name, { kind: 'add', inputs: [activation(inputs[0]!), activation(inputs[1]!)] });
          else {
            const k = constants.findIndex((c) => c !== undefined);
            const tensor = activation(inputs[1 - k]!);
            const channels = b.shapeOf(tensor).at(-1)!;
            const offset = constants[k]!.length === 1 ? new Float32Array(channels).fill(constants[k]![0]!) : constants[k]!;
            sum = b.add(name, { kind: 'affine', input: tensor, scale: new Float32Array(channels).fill(1), offset });
          }
          names.set(out, fused === 'none' ? sum : b.add(`${name}/activation`, { kind: 'clip', input: sum, min: 0, max: fused === 'relu6' ? 6 : Infinity }));
          break;
        }
        case BuiltinOperator.RELU:
          names.set(out, b.add(name, { kind: 'clip', input: activation(inputs[0]!), min: 0, max: Infinity }));
          break;
        case BuiltinOperator.RESHAPE: {
          if (this.shapeOf(out).length !== 2) throw unsupportedOp(`a reshape to rank ${this.shapeOf(out).length}`, label);
          names.set(out, b.add(name, { kind: 'flatten', input: activation(inputs[0]!) }));
          break;
        }
        default:
          throw unsupportedOp(`operator ${BuiltinOperator[builtin] ?? `#${builtin}`}`, label);
      }
    }
    return activation(g.outputs(0)!);
  }
}

/** The whole TFLite model as an IR graph (batch 1). */
export function irFromTflite(bytes: Uint8Array, label: string, format: string): IrGraph {
  const network = new TfliteNetwork(bytes, label);
  const b = new IrBuilder('image', network.inputShape, format);
  return b.finish(network.append(b, b.inputName));
}
