import type { GraphModel } from '@tensorflow/tfjs-converter';
import type * as tfl from '@tensorflow/tfjs-layers';
import { FacetrainError } from '../errors.js';
import { appendLayersModel } from './from-layers.js';
import { type ConstTensor, IrBuilder, type IrGraph, unsupported } from './ir.js';

/** The parts of tfjs-converter's compiled graph node that conversion reads. */
export interface GraphNode {
  name: string;
  op: string;
  inputNames: string[];
  attrParams: Record<string, { value?: unknown }>;
}

export interface ConvertedGraph {
  nodes: Record<string, GraphNode>;
}

type Value = { kind: 'tensor'; name: string } | { kind: 'const'; value: ConstTensor };

export function compiledGraph(model: GraphModel): ConvertedGraph {
  // tfjs-converter keeps the parsed graph on its (private) executor; 4.x layout.
  const graph = (model as unknown as { executor?: { graph?: ConvertedGraph } }).executor?.graph;
  if (!graph?.nodes) throw new FacetrainError('FT_ERR_MODEL', 'GraphModel has no compiled graph; load it with tf.loadGraphModel before exporting');
  return graph;
}

export function nodeName(input: string): string {
  return input.replace(/^\^/, '').replace(/:0$/, '');
}

export function attr<T>(node: GraphNode, key: string, fallback: T): T {
  const value = node.attrParams[key]?.value;
  return value === undefined ? fallback : (value as T);
}

/** Nodes the outputs depend on, inputs before consumers. */
export function topologicalOrder(graph: ConvertedGraph, outputs: string[]): GraphNode[] {
  const order: GraphNode[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const node = graph.nodes[name];
    if (!node) throw new FacetrainError('FT_ERR_INVALID_OPTION', `GraphModel has no node named ${name}; pass an existing outputNode (e.g. global_pooling/Mean)`);
    for (const input of node.inputNames) {
      if (/:[1-9]\d*$/.test(input)) throw unsupported(`node ${name} (reads output ${input} of a multi-output op)`, 'this format');
      visit(nodeName(input));
    }
    order.push(node);
  };
  for (const output of outputs) visit(output);
  return order;
}

function channelConst(value: ConstTensor, channels: number): Float32Array | undefined {
  if (value.data.length === channels) return value.data;
  return value.data.length === 1 ? new Float32Array(channels).fill(value.data[0]) : undefined;
}

function scalar(value: ConstTensor): number | undefined {
  return value.data.length === 1 ? value.data[0] : undefined;
}

function pad4(values: unknown, fallback: number): [number, number] {
  const list = Array.isArray(values) && values.length === 4 ? (values as number[]) : [1, fallback, fallback, 1];
  return [list[1], list[2]];
}

class GraphConverter {
  private readonly values = new Map<string, Value>();

  constructor(
    private readonly b: IrBuilder,
    private readonly weights: GraphModel['weights'],
  ) {}

  tensor(node: GraphNode, index: number): string {
    const value = this.values.get(nodeName(node.inputNames[index]));
    if (value?.kind !== 'tensor') throw unsupported(`node ${node.name} (${node.op}) with a constant where a tensor is expected`, this.b.format);
    return value.name;
  }

  private constant(node: GraphNode, index: number): ConstTensor {
    const value = this.values.get(nodeName(node.inputNames[index]));
    if (value?.kind !== 'const') throw unsupported(`node ${node.name} (${node.op}) with a computed weight`, this.b.format);
    return value.value;
  }

  /** Which inputs of a binary op are constants decides between an elementwise op and a per-channel affine. */
  private binary(node: GraphNode, combine: 'add' | 'mul'): string {
    const [first, second] = node.inputNames.map((n) => this.values.get(nodeName(n)));
    if (first?.kind === 'tensor' && second?.kind === 'tensor') {
      if (combine === 'add') return this.b.add(node.name, { kind: 'add', inputs: [first.name, second.name] });
      throw unsupported(`node ${node.name} (Mul of two computed tensors)`, this.b.format);
    }
    const input = first?.kind === 'tensor' ? first : second;
    const constant = first?.kind === 'const' ? first : second;
    if (input?.kind !== 'tensor' || constant?.kind !== 'const') throw unsupported(`node ${node.name} (${node.op} of constants)`, this.b.format);
    const shape = this.b.shapeOf(input.name);
    const channels = shape[shape.length - 1];
    const values = channelConst(constant.value, channels);
    if (!values) throw unsupported(`node ${node.name} (${node.op} with a constant that is not per-channel)`, this.b.format);
    const scale = combine === 'mul' ? values : new Float32Array(channels).fill(1);
    const offset = combine === 'add' ? values : new Float32Array(channels);
    return this.b.add(node.name, { kind: 'affine', input: input.name, scale, offset });
  }

  private clipWithConstant(node: GraphNode, bound: 'min' | 'max'): string {
    const [first, second] = node.inputNames.map((n) => this.values.get(nodeName(n)));
    const input = first?.kind === 'tensor' ? first : second;
    const constant = first?.kind === 'const' ? first : second;
    const limit = constant?.kind === 'const' ? scalar(constant.value) : undefined;
    if (input?.kind !== 'tensor' || limit === undefined) throw unsupported(`node ${node.name} (${node.op} without a scalar constant)`, this.b.format);
    // Minimum(x, c) caps from above; Maximum(x, c) floors from below.
    const [min, max] = bound === 'max' ? [-Infinity, limit] : [limit, Infinity];
    return this.b.add(node.name, { kind: 'clip', input: input.name, min, max });
  }

  private conv(node: GraphNode, kind: 'conv2d' | 'depthwiseConv2d'): string {
    if (attr(node, 'dataFormat', 'nhwc') !== 'nhwc') throw unsupported(`node ${node.name} (${node.op} in NCHW)`, this.b.format);
    const filter = this.constant(node, 1);
    let input = this.tensor(node, 0);
    let padding = attr<string>(node, 'pad', 'valid');
    if (padding === 'explicit') {
      const p = attr<number[]>(node, 'explicitPaddings', []);
      input = this.b.add(`${node.name}/pad`, { kind: 'pad', input, pads: [p[2], p[3], p[4], p[5]] });
      padding = 'valid';
    }
    const channels = kind === 'conv2d' ? filter.shape[3] : filter.shape[2] * filter.shape[3];
    return this.b.add(node.name, {
      kind,
      input,
      filter,
      bias: new Float32Array(channels),
      strides: pad4(attr(node, 'strides', undefined), 1),
      dilations: pad4(attr(node, 'dilations', undefined), 1),
      padding: padding === 'same' ? 'same' : 'valid',
      activation: 'none',
    });
  }

  private matMul(node: GraphNode): string {
    if (attr(node, 'transposeA', false) || attr(node, 'transposeB', false)) throw unsupported(`node ${node.name} (transposed MatMul)`, this.b.format);
    const kernel = this.constant(node, 1);
    const fused = attr<string[]>(node, 'fusedOps', []);
    const hasBias = fused.includes('biasadd');
    const bias = hasBias ? this.constant(node, 2).data : new Float32Array(kernel.shape[1]);
    const rest = fused.filter((op) => op !== 'biasadd');
    if (rest.length > 1 || (rest.length === 1 && rest[0] !== 'relu' && rest[0] !== 'relu6')) {
      throw unsupported(`node ${node.name} (MatMul fused with ${rest.join(', ')})`, this.b.format);
    }
    const activation = rest[0] === 'relu' || rest[0] === 'relu6' ? rest[0] : 'none';
    return this.b.add(node.name, { kind: 'dense', input: this.tensor(node, 0), kernel, bias, activation });
  }

  private mean(node: GraphNode): string {
    const axes = Array.from(this.constant(node, 1).data).sort();
    const input = this.tensor(node, 0);
    if (this.b.shapeOf(input).length !== 4 || axes.join() !== '1,2' || attr(node, 'keepDims', false)) {
      throw unsupported(`node ${node.name} (Mean over axes ${axes.join(',')}; only global spatial average pooling is supported)`, this.b.format);
    }
    return this.b.add(node.name, { kind: 'globalAveragePool', input });
  }

  private convertNode(node: GraphNode): Value {
    const tensor = (name: string): Value => ({ kind: 'tensor', name });
    switch (node.op) {
      case 'Const': {
        const value = this.weights[node.name]?.[0];
        if (!value) throw new FacetrainError('FT_ERR_MODEL', `GraphModel constant ${node.name} has no value; the model weights are incomplete`);
        return { kind: 'const', value: { shape: value.shape.slice(), data: Float32Array.from(value.dataSync()) } };
      }
      case 'Identity':
        return this.values.get(nodeName(node.inputNames[0])) as Value;
      case 'Conv2D':
        return tensor(this.conv(node, 'conv2d'));
      case 'DepthwiseConv2dNative':
      case 'DepthwiseConv2D':
        return tensor(this.conv(node, 'depthwiseConv2d'));
      case 'Add':
      case 'AddV2':
      case 'BiasAdd':
        return tensor(this.binary(node, 'add'));
      case 'Mul':
        return tensor(this.binary(node, 'mul'));
      case 'Relu':
        return tensor(this.b.add(node.name, { kind: 'clip', input: this.tensor(node, 0), min: 0, max: Infinity }));
      case 'Relu6':
        return tensor(this.b.add(node.name, { kind: 'clip', input: this.tensor(node, 0), min: 0, max: 6 }));
      case 'Minimum':
        return tensor(this.clipWithConstant(node, 'max'));
      case 'Maximum':
        return tensor(this.clipWithConstant(node, 'min'));
      case 'Mean':
        return tensor(this.mean(node));
      case 'MatMul':
      case '_FusedMatMul':
        return tensor(this.matMul(node));
      case 'Sigmoid':
        return tensor(this.b.add(node.name, { kind: 'sigmoid', input: this.tensor(node, 0) }));
      case 'Softmax':
        return tensor(this.b.add(node.name, { kind: 'softmax', input: this.tensor(node, 0) }));
      default:
        throw unsupported(`node ${node.name} (${node.op})`, this.b.format);
    }
  }

  run(order: GraphNode[], input: GraphNode): string {
    this.values.set(input.name, { kind: 'tensor', name: this.b.inputName });
    for (const node of order) if (node !== input) this.values.set(node.name, this.convertNode(node));
    const last = this.values.get(order[order.length - 1].name);
    if (last?.kind !== 'tensor') throw unsupported(`output node ${order[order.length - 1].name} (a constant)`, this.b.format);
    return last.name;
  }
}

/** The graph cut at `outputNode`, L2-normalised: face embeddings, for a native runtime to compute. */
export function irFromGraphEmbedding(model: GraphModel, outputNode: string, format: string): IrGraph {
  const { b, normalised } = embeddingIr(model, outputNode, format);
  return b.finish(normalised);
}

/** The graph cut at `outputNode` and L2-normalised, left open so a caller appends what it computes from the embedding. */
export function embeddingIr(model: GraphModel, outputNode: string, format: string): { b: IrBuilder; normalised: string } {
  const graph = compiledGraph(model);
  const order = topologicalOrder(graph, [outputNode]);
  const placeholders = order.filter((n) => n.op === 'Placeholder');
  if (placeholders.length !== 1) throw unsupported(`GraphModel with ${placeholders.length} inputs feeding ${outputNode}`, format);
  const input = placeholders[0];
  const shape = attr<number[]>(input, 'shape', []).map((d) => (d < 0 ? 1 : d));
  if (shape.length !== 4) throw unsupported(`GraphModel input ${input.name} of shape [${shape.join(',')}] (an NHWC image is expected)`, format);
  const b = new IrBuilder(input.name, shape, format);
  const embedding = new GraphConverter(b, model.weights).run(order, input);
  return { b, normalised: b.add('l2_normalize', { kind: 'l2Normalize', input: embedding }) };
}

/**
 * Builds the IR of an embedding recognizer: a GraphModel cut at `outputNode` (e.g. FaceRes'
 * global_pooling/Mean), then L2 normalisation, then a LayersModel head ending in probabilities.
 */
export function irFromGraphRecognizer(model: GraphModel, outputNode: string, head: tfl.LayersModel, format: string): IrGraph {
  const { b, normalised } = embeddingIr(model, outputNode, format);
  return b.finish(appendLayersModel(b, head, normalised));
}
