import type * as tf from '@tensorflow/tfjs-core';
import { type ConvOp, type DenseOp, type FusedActivation, type IrGraph, type IrOp, L2_EPSILON, unsupported } from '../graph/ir.js';

/**
 * IR -> TF.js graph model (the `model.json` topology of TensorFlow GraphDef nodes plus one weight
 * buffer), loadable by `tf.loadGraphModel` of @tensorflow/tfjs-converter 4.22 in a browser or Node.
 * The input is `input` [batch, H, W, C] NHWC float32 (any batch); each IR output becomes an
 * Identity node with the name given, in that order (TF.js lists a graph's outputs in node order).
 */

export const TFJS_GRAPH_INPUT = 'input';

interface GraphDefNode {
  name: string;
  op: string;
  input: string[];
  attr: Record<string, unknown>;
}

const DT_FLOAT = { type: 'DT_FLOAT' };
const DT_INT32 = { type: 'DT_INT32' };
const base64 = (text: string): string => Buffer.from(text).toString('base64');
const intList = (values: number[]) => ({ list: { i: values.map(String) } });
const tensorShape = (shape: number[]) => (shape.length ? { dim: shape.map((size) => ({ size: String(size) })) } : {});

class GraphDefBuilder {
  readonly nodes: GraphDefNode[] = [];
  readonly weightSpecs: tf.io.WeightsManifestEntry[] = [];
  private readonly weights: Uint8Array[] = [];
  private readonly used = new Set<string>();

  unique(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  node(op: string, name: string, input: string[], attr: Record<string, unknown> = {}): string {
    this.nodes.push({ name: this.unique(name), op, input, attr });
    return this.nodes[this.nodes.length - 1]!.name;
  }

  private constant(base: string, values: Float32Array | Int32Array, shape: number[]): string {
    const name = this.unique(base);
    const float = values instanceof Float32Array;
    this.nodes.push({ name, op: 'Const', input: [], attr: { value: { tensor: { dtype: float ? 'DT_FLOAT' : 'DT_INT32', tensorShape: tensorShape(shape) } }, dtype: float ? DT_FLOAT : DT_INT32 } });
    this.weightSpecs.push({ name, shape, dtype: float ? 'float32' : 'int32' });
    this.weights.push(new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)));
    return name;
  }

  float(base: string, values: ArrayLike<number>, shape: number[] = [values.length]): string {
    return this.constant(base, Float32Array.from(values), shape);
  }

  int(base: string, values: number[], shape: number[] = [values.length]): string {
    return this.constant(base, Int32Array.from(values), shape);
  }

  weightData(): ArrayBuffer {
    const total = this.weights.reduce((sum, w) => sum + w.byteLength, 0);
    const out = new Uint8Array(total);
    let offset = 0;
    for (const w of this.weights) {
      out.set(w, offset);
      offset += w.byteLength;
    }
    return out.buffer;
  }
}

/** fused_ops of _FusedConv2D / FusedDepthwiseConv2dNative / _FusedMatMul: bias, then the activation if any. */
function fusedOps(activation: FusedActivation): { list: { s: string[] } } {
  const ops = activation === 'none' ? ['BiasAdd'] : ['BiasAdd', activation === 'relu' ? 'Relu' : 'Relu6'];
  return { list: { s: ops.map(base64) } };
}

function emitConv(g: GraphDefBuilder, op: ConvOp, x: string): string {
  const filter = g.float(`${op.output}/filter`, op.filter.data, op.filter.shape);
  const bias = g.float(`${op.output}/bias`, op.bias);
  return g.node(op.kind === 'conv2d' ? '_FusedConv2D' : 'FusedDepthwiseConv2dNative', op.output, [x, filter, bias], {
    T: DT_FLOAT,
    num_args: { i: '1' },
    fused_ops: fusedOps(op.activation),
    strides: intList([1, op.strides[0], op.strides[1], 1]),
    dilations: intList([1, op.dilations[0], op.dilations[1], 1]),
    padding: { s: base64(op.padding === 'same' ? 'SAME' : 'VALID') },
    data_format: { s: base64('NHWC') },
  });
}

function emitDense(g: GraphDefBuilder, op: DenseOp, x: string): string {
  const kernel = g.float(`${op.output}/kernel`, op.kernel.data, op.kernel.shape);
  const bias = g.float(`${op.output}/bias`, op.bias);
  return g.node('_FusedMatMul', op.output, [x, kernel, bias], { T: DT_FLOAT, num_args: { i: '1' }, fused_ops: fusedOps(op.activation), transpose_a: { b: false }, transpose_b: { b: false } });
}

function emit(g: GraphDefBuilder, op: IrOp, tensor: (name: string) => string, graph: IrGraph): string {
  const out = op.output;
  const x = 'input' in op ? tensor(op.input) : '';
  switch (op.kind) {
    case 'pad':
      return g.node('Pad', out, [x, g.int(`${out}/paddings`, [0, 0, op.pads[0], op.pads[1], op.pads[2], op.pads[3], 0, 0], [4, 2])], { T: DT_FLOAT });
    case 'conv2d':
    case 'depthwiseConv2d':
      return emitConv(g, op, x);
    case 'dense':
      return emitDense(g, op, x);
    case 'affine': {
      const scaled = g.node('Mul', `${out}/scaled`, [x, g.float(`${out}/scale`, op.scale)], { T: DT_FLOAT });
      return g.node('AddV2', out, [scaled, g.float(`${out}/offset`, op.offset)], { T: DT_FLOAT });
    }
    case 'clip': {
      let value = x;
      if (Number.isFinite(op.min)) value = g.node('Maximum', Number.isFinite(op.max) ? `${out}/floor` : out, [value, g.float(`${out}/min`, [op.min], [])], { T: DT_FLOAT });
      if (Number.isFinite(op.max)) value = g.node('Minimum', out, [value, g.float(`${out}/max`, [op.max], [])], { T: DT_FLOAT });
      return value === x ? g.node('Identity', out, [x], { T: DT_FLOAT }) : value;
    }
    case 'add':
      return g.node('AddV2', out, [tensor(op.inputs[0]), tensor(op.inputs[1])], { T: DT_FLOAT });
    case 'globalAveragePool':
      return g.node('Mean', out, [x, g.int(`${out}/axes`, [1, 2])], { T: DT_FLOAT, keep_dims: { b: false } });
    case 'flatten': {
      const size = (graph.shapes.get(op.input) ?? []).slice(1).reduce((a, b) => a * b, 1);
      return g.node('Reshape', out, [x, g.int(`${out}/shape`, [-1, size])], { T: DT_FLOAT });
    }
    case 'softmax':
      return g.node('Softmax', out, [x], { T: DT_FLOAT });
    case 'sigmoid':
      return g.node('Sigmoid', out, [x], { T: DT_FLOAT });
    case 'l2Normalize': {
      const squares = g.node('Square', `${out}/squares`, [x], { T: DT_FLOAT });
      const sum = g.node('Sum', `${out}/sum_squares`, [squares, g.int(`${out}/axis`, [-1])], { T: DT_FLOAT, keep_dims: { b: true } });
      const floored = g.node('Maximum', `${out}/floored`, [sum, g.float(`${out}/epsilon`, [L2_EPSILON], [])], { T: DT_FLOAT });
      return g.node('RealDiv', out, [x, g.node('Sqrt', `${out}/norm`, [floored], { T: DT_FLOAT })], { T: DT_FLOAT });
    }
    case 'prelu':
      return g.node('Prelu', out, [x, g.float(`${out}/slope`, op.slope)], { T: DT_FLOAT });
    case 'mirrorWidth':
      return g.node('ReverseV2', out, [x, g.int(`${out}/axis`, [2])], { T: DT_FLOAT });
    case 'groupMax': {
      const grouped = g.node('Reshape', `${out}/grouped`, [x, g.int(`${out}/shape`, [-1, op.groups, (graph.shapes.get(op.input)![1]!) / op.groups])], { T: DT_FLOAT });
      return g.node('Max', out, [grouped, g.int(`${out}/axis`, [2])], { T: DT_FLOAT, keep_dims: { b: false } });
    }
    case 'pickAtArgMax': {
      const [values, keys] = op.inputs.map(tensor) as [string, string];
      const people = graph.shapes.get(op.inputs[1])![1]!;
      const at = g.node('ArgMax', `${out}/argmax`, [keys, g.int(`${out}/axis`, [1], [])], { T: DT_FLOAT, output_type: DT_INT32 });
      // OneHot of int32, then a cast: TF.js's wasm backend fills an int32 buffer whatever the dtype asked
      const oneHot = g.node('OneHot', `${out}/one_hot`, [at, g.int(`${out}/depth`, [people], []), g.int(`${out}/on`, [1], []), g.int(`${out}/off`, [0], [])], { T: DT_INT32, axis: { i: '-1' } });
      const mask = g.node('Cast', `${out}/mask`, [oneHot], { SrcT: DT_INT32, DstT: DT_FLOAT });
      const picked = g.node('Mul', `${out}/picked`, [values, mask], { T: DT_FLOAT });
      return g.node('Sum', out, [picked, g.int(`${out}/sum_axis`, [1])], { T: DT_FLOAT, keep_dims: { b: true } });
    }
    default:
      throw unsupported(`IR op ${(op as IrOp).kind}`, 'TF.js');
  }
}

/** The TF.js graph model of `graph` as artifacts for an IOHandler's save (`fileSystemIO`). */
export function irToTfjsGraph(graph: IrGraph, outputNames: string[], userDefinedMetadata?: Record<string, {}>): tf.io.ModelArtifacts {
  if (outputNames.length !== graph.outputs.length) throw new Error(`internal error: ${outputNames.length} TF.js output names for ${graph.outputs.length} outputs`);
  const g = new GraphDefBuilder();
  const tensors = new Map<string, string>();
  const tensor = (name: string): string => {
    const t = tensors.get(name);
    if (!t) throw new Error(`internal error: IR tensor ${name} used before it is computed`);
    return t;
  };
  const [, h, w, c] = graph.input.shape;
  // output names are reserved first: an IR tensor of the same name gets a suffix instead
  for (const name of outputNames) g.unique(name);
  tensors.set(graph.input.name, g.node('Placeholder', TFJS_GRAPH_INPUT, [], { dtype: DT_FLOAT, shape: { shape: tensorShape([-1, h!, w!, c!]) } }));
  for (const op of graph.ops) tensors.set(op.output, emit(g, op, tensor, graph));
  graph.outputs.forEach((irName, i) => g.nodes.push({ name: outputNames[i]!, op: 'Identity', input: [tensor(irName)], attr: { T: DT_FLOAT } }));
  return {
    format: 'graph-model',
    generatedBy: 'facetrain',
    convertedBy: 'facetrain IR -> TF.js graph',
    modelTopology: { node: g.nodes, library: {}, versions: { producer: 1286 } },
    weightSpecs: g.weightSpecs,
    weightData: g.weightData(),
    ...(userDefinedMetadata ? { userDefinedMetadata } : {}),
  };
}
