import { type Attribute, int, ModelProto, ONNX_FLOAT, ONNX_INT64, rawBytes } from '../src/graph/onnx-schema.js';
import type { OnnxRuntime } from '../src/runtime/runtime.js';

/** Rewrites of the ONNX graphs facetrain writes, for before/after comparisons in the bench only. */

interface OnnxNodeObject {
  op_type: string;
  name: string;
  input: string[];
  output: string[];
  attribute?: Attribute[];
}
interface OnnxInitializerObject {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}
interface OnnxModelObject {
  graph: { node: OnnxNodeObject[]; initializer: OnnxInitializerObject[]; output: object[] };
}

function decode(bytes: Uint8Array): OnnxModelObject {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, arrays: true }) as OnnxModelObject;
}

function encode(model: OnnxModelObject): Uint8Array {
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

function floats(init: OnnxInitializerObject): Float32Array {
  const bytes = Uint8Array.from(init.raw_data);
  return new Float32Array(bytes.buffer);
}

/**
 * The graphs as facetrain wrote them before this bench's session, rebuilt from today's (bench only,
 * for before/after in one process): each PReLU written as x + (1 - slope) * relu(-x) (two 1x1
 * depthwise convolutions, a ReLU and an Add) becomes one ONNX PRelu again, and each identity 1x1
 * convolution appending zero channels (BlazeFace's widening shortcuts) a channel Pad again.
 */
export function previousOnnx(bytes: Uint8Array): Uint8Array {
  const model = decode(bytes);
  const { graph } = model;
  const initializers = new Map(graph.initializer.map((init) => [init.name, init]));
  const producer = new Map(graph.node.map((node) => [node.output[0]!, node]));
  const dropped = new Set<OnnxNodeObject>();
  const nodes: OnnxNodeObject[] = [];
  for (const node of graph.node) {
    if (node.op_type === 'Add') {
      const [x, scaledName] = node.input as [string, string];
      const scaled = producer.get(scaledName);
      const relu = scaled?.op_type === 'Conv' ? producer.get(scaled.input[0]!) : undefined;
      const negated = relu?.op_type === 'Relu' ? producer.get(relu.input[0]!) : undefined;
      if (scaled && relu && negated?.op_type === 'Conv' && negated.input[0] === x && scaled.output[0]!.includes('/scaled')) {
        const slope = floats(initializers.get(scaled.input[1]!)!).map((w) => 1 - w);
        const name = `${node.output[0]}/slope`;
        graph.initializer.push({ name, dims: [slope.length, 1, 1], data_type: ONNX_FLOAT, raw_data: rawBytes(slope) });
        [scaled, relu, negated].forEach((n) => dropped.add(n));
        nodes.push({ op_type: 'PRelu', name: node.name, input: [x, name], output: node.output, attribute: [] });
        continue;
      }
    }
    if (node.op_type === 'Conv' && node.input[1]?.endsWith('/identity')) {
      const [widened, channels] = initializers.get(node.input[1]!)!.dims as [number, number];
      const name = `${node.output[0]}/pads`;
      graph.initializer.push({ name, dims: [8], data_type: ONNX_INT64, raw_data: rawBytes(BigInt64Array.from([0, 0, 0, 0, 0, widened - channels, 0, 0].map(BigInt))) });
      nodes.push({ op_type: 'Pad', name: node.name, input: [node.input[0]!, name], output: node.output, attribute: [] });
      continue;
    }
    nodes.push(node);
  }
  graph.node = nodes.filter((node) => !dropped.has(node));
  const used = new Set(graph.node.flatMap((node) => node.input));
  graph.initializer = graph.initializer.filter((init) => used.has(init.name));
  return encode(model);
}


/**
 * The ReLU bound: each PReLU (as `previousOnnx` writes it, one PRelu node) replaced by a ReLU. Not
 * MobileFaceNet any more (other embeddings): what the network would cost without its PReLUs.
 */
export function reluForPrelu(bytes: Uint8Array): Uint8Array {
  const model = decode(previousOnnx(bytes));
  for (const node of model.graph.node) {
    if (node.op_type !== 'PRelu') continue;
    node.op_type = 'Relu';
    node.input = [node.input[0]!];
  }
  const used = new Set(model.graph.node.flatMap((node) => node.input));
  model.graph.initializer = model.graph.initializer.filter((init) => used.has(init.name));
  return encode(model);
}

/**
 * int8 networks on onnxruntime, measured against float32 and not shipped: not fast enough to pay for
 * what they change (README Performance, "Networks on onnxruntime"; issue 13, session 9).
 * A float32 ONNX graph (as facetrain writes them) rewritten in the QDQ form onnxruntime fuses into
 * integer kernels: every activation a convolution, Add or MaxPool reads or writes goes through
 * QuantizeLinear -> DequantizeLinear (uint8, one scale per tensor, from a calibrated range), and every
 * convolution's weights are int8 (symmetric, one scale per output channel) with an int32 bias, each
 * behind a DequantizeLinear. At optimisation level `all` onnxruntime turns DQ -> Conv -> Q into
 * QLinearConv (MLAS U8S8, VNNI where the CPU has it), DQ -> Add -> Q into QLinearAdd, and a ReLU
 * before a Q into the Q's clamp. Tensors that only lead to the graph's outputs stay float.
 */

/** [lo, hi] each activation is quantized on, by tensor name. */
type ActivationRanges = Record<string, [number, number]>;

/** TensorProto data types beside ONNX_FLOAT. */
const ONNX_DATA = { uint8: 2, int8: 3, int32: 6 } as const;
/** Ops whose inputs and outputs are quantized: onnxruntime has integer kernels for each. */
const INTEGER_OPS = new Set(['Conv', 'Add', 'MaxPool']);
/** MaxPool moves values: onnxruntime runs it on uint8 only when its output keeps its input's grid. */
const SAME_GRID_OPS = new Set(['MaxPool']);
/** Keeps quantized biases well inside int32 (as the TFLite quantizer does). */
const MAX_BIAS_QUANT = 2 ** 30;

/** The activations to quantize, and the tensor whose grid each one shares (a MaxPool's output: its input's). */
function quantizedTensors(model: OnnxModelObject): Map<string, string> {
  const { node: nodes, initializer } = model.graph;
  const constants = new Set(initializer.map((init) => init.name));
  const readers = new Map<string, OnnxNodeObject[]>();
  for (const node of nodes) for (const input of node.input) readers.set(input, [...(readers.get(input) ?? []), node]);
  const leadsToInteger = (name: string): boolean => (readers.get(name) ?? []).some((reader) => INTEGER_OPS.has(reader.op_type) || (reader.op_type === 'Relu' && leadsToInteger(reader.output[0]!)));
  const grids = new Map<string, string>();
  for (const node of nodes) {
    if (!INTEGER_OPS.has(node.op_type)) continue;
    for (const input of node.input) if (input && !constants.has(input) && !grids.has(input)) grids.set(input, input);
    const output = node.output[0]!;
    const sole = readers.get(output);
    // a ReLU after the op becomes the clamp of the Q after it (onnxruntime's ReluQuantFusion)
    const quantized = sole?.length === 1 && sole[0]!.op_type === 'Relu' ? sole[0]!.output[0]! : output;
    if (!leadsToInteger(quantized)) continue;
    grids.set(quantized, SAME_GRID_OPS.has(node.op_type) ? grids.get(node.input[0]!)! : quantized);
  }
  return grids;
}

/** The activation tensors of `onnx` that need a calibrated range for `int8Onnx`, in graph order. */
function int8Activations(onnx: Uint8Array): string[] {
  return [...quantizedTensors(decode(onnx))].filter(([name, grid]) => name === grid).map(([name]) => name);
}

/** The same graph with every named tensor also a graph output (float, shape left open): what calibration reads. */
function withTensorOutputs(onnx: Uint8Array, names: string[]): Uint8Array {
  const model = decode(onnx);
  model.graph.output.push(...names.map((name) => ({ name, type: { tensor_type: { elem_type: ONNX_FLOAT } } })));
  return encode(model);
}

/** uint8 grid covering [lo, hi] and zero (zero exactly representable, as padding and ReLU need). */
function uint8Grid([min, max]: readonly [number, number]): { scale: number; zeroPoint: number } {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  const shift = process.env.FT_INT8_ACT === 'int8' ? 128 : 0;
  return { scale, zeroPoint: Math.max(0, Math.min(255, Math.round(-lo / scale))) - shift };
}

/** int8 weights of an OIHW (or [O, I/group, kh, kw]) filter, one symmetric scale per output channel; the int32 bias at input scale x weight scale. */
function quantizeConv(weights: Float32Array, outChannels: number, bias: Float32Array | undefined, inputScale: number) {
  const perChannel = weights.length / outChannels;
  const scales = Float32Array.from({ length: outChannels }, (_, o) => {
    let peak = 0;
    for (let i = o * perChannel; i < (o + 1) * perChannel; i++) peak = Math.max(peak, Math.abs(weights[i]!));
    // a near-dead channel's scale never gets so small that its bias leaves int32
    return Math.max(peak > 0 ? peak / 127 : 1, Math.abs(bias?.[o] ?? 0) / (inputScale * MAX_BIAS_QUANT));
  });
  const values = Int8Array.from(weights, (w, i) => Math.max(-127, Math.min(127, Math.round(w / scales[Math.floor(i / perChannel)]!))));
  const biasScales = scales.map((s) => s * inputScale);
  const biasValues = bias && Int32Array.from(bias, (b, o) => Math.round(b / biasScales[o]!));
  return { scales, values, biasScales, biasValues };
}

/**
 * `onnx` in QDQ form with the activation grids from `ranges` (every name `int8Activations` lists).
 * Throws naming the first tensor without a range: the table belongs to another graph.
 */
function int8Onnx(onnx: Uint8Array, ranges: ActivationRanges): Uint8Array {
  const model = decode(onnx);
  const { graph } = model;
  const grids = quantizedTensors(model);
  const constants = new Map(graph.initializer.map((init) => [init.name, init]));
  const added: OnnxInitializerObject[] = [];
  const constant = (name: string, data_type: number, dims: number[], data: Float32Array | Int8Array | Uint8Array | Int32Array): string => {
    added.push({ name, dims, data_type, raw_data: rawBytes(data) });
    return name;
  };
  const grid = new Map<string, { scale: number; zeroPoint: number }>();
  for (const [name, source] of grids) {
    const range = ranges[source];
    if (!range) throw new Error(`no int8 range for tensor ${source}`);
    grid.set(name, uint8Grid(range));
  }
  const nodes: OnnxNodeObject[] = [];
  const dequantize = (input: string, scale: string, zeroPoint: string, attribute: Attribute[] = []): string => {
    const output = `${input}/dequantized`;
    nodes.push({ op_type: 'DequantizeLinear', name: output, input: [input, scale, zeroPoint], output: [output], attribute });
    return output;
  };
  const quantizeActivation = (name: string): void => {
    const { scale, zeroPoint } = grid.get(name)!;
    const scaleName = constant(`${name}/scale`, ONNX_FLOAT, [], Float32Array.of(scale));
    const zeroName = process.env.FT_INT8_ACT === 'int8' ? constant(`${name}/zero_point`, ONNX_DATA.int8, [], Int8Array.of(zeroPoint)) : constant(`${name}/zero_point`, ONNX_DATA.uint8, [], Uint8Array.of(zeroPoint));
    const quantized = `${name}/quantized`;
    nodes.push({ op_type: 'QuantizeLinear', name: quantized, input: [name, scaleName, zeroName], output: [quantized] });
    dequantize(quantized, scaleName, zeroName);
  };
  const read = (name: string): string => (grid.has(name) ? `${name}/quantized/dequantized` : name);
  for (const node of graph.node) {
    const inputs = node.input.map(read);
    const weights = node.op_type === 'Conv' ? constants.get(node.input[1]!) : undefined;
    if (weights) {
      const outChannels = weights.dims[0]!;
      const bias = node.input[2] ? floats(constants.get(node.input[2])!) : undefined;
      const q = quantizeConv(floats(weights), outChannels, bias, grid.get(node.input[0]!)!.scale);
      const axis = [int('axis', 0)];
      const w = `${weights.name}/int8`;
      constant(w, ONNX_DATA.int8, weights.dims, q.values);
      inputs[1] = dequantize(w, constant(`${w}/scale`, ONNX_FLOAT, [outChannels], q.scales), constant(`${w}/zero_point`, ONNX_DATA.int8, [outChannels], new Int8Array(outChannels)), axis);
      if (bias && q.biasValues) {
        const b = `${node.input[2]}/int32`;
        constant(b, ONNX_DATA.int32, [outChannels], q.biasValues);
        inputs[2] = dequantize(b, constant(`${b}/scale`, ONNX_FLOAT, [outChannels], q.biasScales), constant(`${b}/zero_point`, ONNX_DATA.int32, [outChannels], new Int32Array(outChannels)), axis);
      }
    }
    nodes.push({ ...node, input: inputs });
    for (const output of node.output) if (grid.has(output)) quantizeActivation(output);
  }
  graph.node = nodes;
  const used = new Set(nodes.flatMap((node) => node.input));
  graph.initializer = [...graph.initializer.filter((init) => used.has(init.name)), ...added];
  return encode(model);
}

/**
 * `onnx` as int8 QDQ with each activation's range the min/max it takes over `inputs` (one run of the
 * float graph each): enough for timing the integer kernels; it is not a calibration for accuracy.
 */
export async function calibratedInt8Onnx(ort: OnnxRuntime, onnx: Uint8Array, inputs: Float32Array[], shape: number[]): Promise<Uint8Array> {
  const names = int8Activations(onnx);
  const session = await ort.InferenceSession.create(withTensorOutputs(onnx, names));
  const ranges: ActivationRanges = {};
  try {
    for (const input of inputs) {
      const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input, shape) });
      for (const name of names) {
        const range = (ranges[name] ??= [Infinity, -Infinity]);
        for (const v of out[name]!.data as Float32Array) {
          if (v < range[0]) range[0] = v;
          if (v > range[1]) range[1] = v;
        }
      }
    }
  } finally {
    await session.release();
  }
  return int8Onnx(onnx, ranges);
}
