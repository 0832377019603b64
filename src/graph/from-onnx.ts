import { FacetrainError } from '../errors.js';
import { IrBuilder, type IrGraph } from './ir.js';
import { ModelProto } from './onnx-schema.js';
import { optimizeIr } from './optimize.js';

/**
 * Float32 ONNX -> IR for small NCHW convolutional networks such as the landmark network
 * (Conv, depthwise Conv, Relu, Clip, PRelu, Add, Flatten of a 1x1 map, Gemm, BatchNormalization):
 * enough for every IR emitter (TF.js above all) to carry a network that ships only as ONNX.
 * The IR is NHWC: filters go from OIHW to HWIO and explicit ONNX pads become a pad op.
 */

interface OnnxTensor {
  name: string;
  dims?: number[];
  data_type?: number;
  float_data?: number[];
  raw_data?: Uint8Array;
}

interface OnnxAttribute {
  name: string;
  i?: number;
  f?: number;
  ints?: number[];
}

interface OnnxNodeRead {
  op_type: string;
  input: string[];
  output: string[];
  attribute?: OnnxAttribute[];
}

interface OnnxModelRead {
  graph: {
    node: OnnxNodeRead[];
    initializer?: OnnxTensor[];
    input: { name: string; type?: { tensor_type?: { shape?: { dim?: { dim_value?: number }[] } } } }[];
    output: { name: string }[];
  };
}

function unsupportedOnnx(what: string, label: string): FacetrainError {
  return new FacetrainError('FT_ERR_UNSUPPORTED', `${label}: ${what} is not supported by facetrain's ONNX reader; use a float32 NCHW network of convolutions, elementwise ops and a final Gemm`);
}

function floats(tensor: OnnxTensor): Float32Array {
  if (tensor.raw_data && tensor.raw_data.length > 0) {
    const bytes = tensor.raw_data;
    // copied: raw_data may sit at an offset that is no multiple of 4
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }
  return Float32Array.from(tensor.float_data ?? []);
}

/** ONNX OIHW conv weights -> IR HWIO; a depthwise [C * m, 1, h, w] -> [h, w, C, m]. */
function toHwio(data: Float32Array, [o, i, h, w]: number[], depthwise: boolean, inChannels: number): { shape: number[]; data: Float32Array } {
  const out = new Float32Array(data.length);
  const multiplier = o! / inChannels;
  for (let oc = 0; oc < o!; oc++) for (let ic = 0; ic < i!; ic++) for (let y = 0; y < h!; y++) for (let x = 0; x < w!; x++) {
    const source = data[((oc * i! + ic) * h! + y) * w! + x]!;
    // depthwise output channel oc reads input channel floor(oc / m), as its multiplier oc % m
    if (depthwise) out[((y * w! + x) * inChannels + Math.floor(oc / multiplier)) * multiplier + (oc % multiplier)] = source;
    else out[((y * w! + x) * i! + ic) * o! + oc] = source;
  }
  return { shape: depthwise ? [h!, w!, inChannels, multiplier] : [h!, w!, i!, o!], data: out };
}

/** Reads `bytes` (an ONNX model with one NCHW image input) into the optimised IR; `label` names it in errors. */
export function irFromOnnx(bytes: Uint8Array, label: string, format: string): IrGraph {
  const model = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, bytes: Uint8Array }) as OnnxModelRead;
  const { graph } = model;
  const constants = new Map((graph.initializer ?? []).map((t) => [t.name, t]));
  const input = graph.input.find((i) => !constants.has(i.name));
  const dims = input?.type?.tensor_type?.shape?.dim?.map((d) => Number(d.dim_value ?? 0)) ?? [];
  if (!input || dims.length !== 4) throw unsupportedOnnx('a model whose input is not one [N, C, H, W] image', label);
  const [, c, h, w] = dims as [number, number, number, number];
  const b = new IrBuilder(input.name, [1, h, w, c], format);
  const tensors = new Map<string, string>([[input.name, b.inputName]]);
  const tensorOf = (name: string): string => {
    const t = tensors.get(name);
    if (!t) throw unsupportedOnnx(`tensor ${name} (a constant where an activation was expected, or computed out of order)`, label);
    return t;
  };
  const constant = (name: string | undefined): OnnxTensor => {
    const t = name === undefined ? undefined : constants.get(name);
    if (!t) throw unsupportedOnnx(`input ${name} (an activation where a constant was expected)`, label);
    return t;
  };
  for (const node of graph.node) {
    const attr = (key: string): OnnxAttribute | undefined => node.attribute?.find((a) => a.name === key);
    const out = node.output[0]!;
    const x = (): string => tensorOf(node.input[0]!);
    switch (node.op_type) {
      case 'Conv': {
        const weight = constant(node.input[1]);
        const shape = (weight.dims ?? []).map(Number);
        const inChannels = b.shapeOf(x())[3]!;
        const group = attr('group')?.i ?? 1;
        const depthwise = group > 1;
        if (depthwise && group !== inChannels) throw unsupportedOnnx(`Conv with ${group} groups over ${inChannels} channels`, label);
        const [top, left, bottom, right] = attr('pads')?.ints?.map(Number) ?? [0, 0, 0, 0];
        let source = x();
        if (top || left || bottom || right) source = b.add(`${out}/pad`, { kind: 'pad', input: source, pads: [top!, bottom!, left!, right!] });
        const strides = (attr('strides')?.ints?.map(Number) ?? [1, 1]) as [number, number];
        const dilations = (attr('dilations')?.ints?.map(Number) ?? [1, 1]) as [number, number];
        const bias = node.input[2] ? floats(constant(node.input[2])) : new Float32Array(shape[0]!);
        tensors.set(out, b.add(out, { kind: depthwise ? 'depthwiseConv2d' : 'conv2d', input: source, filter: toHwio(floats(weight), shape, depthwise, inChannels), bias, strides, dilations, padding: 'valid', activation: 'none' }));
        break;
      }
      case 'Relu':
        tensors.set(out, b.add(out, { kind: 'clip', input: x(), min: 0, max: Infinity }));
        break;
      case 'Clip': {
        const bound = (i: number, fallback: number): number => (node.input[i] ? floats(constant(node.input[i]))[0]! : fallback);
        tensors.set(out, b.add(out, { kind: 'clip', input: x(), min: bound(1, -Infinity), max: bound(2, Infinity) }));
        break;
      }
      case 'PRelu':
        tensors.set(out, b.add(out, { kind: 'prelu', input: x(), slope: floats(constant(node.input[1])) }));
        break;
      case 'Add':
        tensors.set(out, b.add(out, { kind: 'add', inputs: [tensorOf(node.input[0]!), tensorOf(node.input[1]!)] }));
        break;
      case 'Flatten': {
        const [, fh, fw] = b.shapeOf(x());
        // NCHW and NHWC flatten alike only when no spatial extent is left
        if (fh !== 1 || fw !== 1) throw unsupportedOnnx(`Flatten of a ${fh}x${fw} map`, label);
        tensors.set(out, b.add(out, { kind: 'flatten', input: x() }));
        break;
      }
      case 'Gemm': {
        const weight = constant(node.input[1]);
        const [rows, columns] = (weight.dims ?? []).map(Number) as [number, number];
        if ((attr('alpha')?.f ?? 1) !== 1 || (attr('beta')?.f ?? 1) !== 1 || attr('transA')?.i) throw unsupportedOnnx('Gemm with alpha, beta or transA', label);
        const data = floats(weight);
        const transposed = Boolean(attr('transB')?.i);
        const [inputs, outputs] = transposed ? [columns, rows] : [rows, columns];
        const kernel = new Float32Array(data.length);
        for (let i = 0; i < inputs; i++) for (let o = 0; o < outputs; o++) kernel[i * outputs + o] = transposed ? data[o * inputs + i]! : data[i * outputs + o]!;
        const bias = node.input[2] ? floats(constant(node.input[2])) : new Float32Array(outputs);
        tensors.set(out, b.add(out, { kind: 'dense', input: x(), kernel: { shape: [inputs, outputs], data: kernel }, bias, activation: 'none' }));
        break;
      }
      case 'BatchNormalization': {
        const [gamma, beta, mean, variance] = node.input.slice(1, 5).map((n) => floats(constant(n)));
        const epsilon = attr('epsilon')?.f ?? 1e-5;
        // inference batch norm as a per-channel affine, which optimizeIr folds into the layer before when it can
        const scale = gamma!.map((g, i) => g / Math.sqrt(variance![i]! + epsilon));
        const offset = beta!.map((v, i) => v - mean![i]! * scale[i]!);
        tensors.set(out, b.add(out, { kind: 'affine', input: x(), scale, offset }));
        break;
      }
      default:
        throw unsupportedOnnx(`the ${node.op_type} operator`, label);
    }
  }
  return optimizeIr(b.finish(...graph.output.map((o) => tensorOf(o.name))));
}
