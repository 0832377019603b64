import { type Attribute, ModelProto, ONNX_FLOAT, ONNX_INT64, type OnnxNode, rawBytes } from './onnx-schema.js';

/** Opset and IR version of every ONNX graph facetrain writes. */
export const ONNX_OPSET = 13;
const ONNX_IR_VERSION = 8;

/** A dimension: a size, or a name (such as 'batch') for an axis that changes call to call. */
export type Dim = number | string;

export interface OnnxInitializer {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

export function valueInfo(name: string, dims: Dim[]): object {
  const dim = dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d }));
  return { name, type: { tensor_type: { elem_type: ONNX_FLOAT, shape: { dim } } } };
}

export interface EncodeOptions {
  /** Stored as model metadata_props (labels, preprocessing, ...). */
  metadata?: Record<string, string>;
  producerVersion?: string;
}

/**
 * A float32 ONNX graph built node by node, for the exporter (graph/onnx.ts) and the training step
 * (train/onnx-step-graph.ts): fresh names, float constants, int64 constants (axes, shapes, pads)
 * shared by value, graph inputs and outputs, and the encoded model.
 */
export class OnnxGraph {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  private readonly inputs: object[] = [];
  private readonly outputs: object[] = [];
  private readonly int64Consts = new Map<string, string>();
  private counter = 0;
  /** Prefix of node names (the layer being emitted), for profiles. */
  scope = '';

  unique(base: string): string {
    return `${base}__${this.counter++}`;
  }

  /** Adds a node writing `output` and returns `output`. */
  node(type: string, inputs: string[], output: string, attribute: Attribute[] = []): string {
    this.nodes.push({ op_type: type, name: this.unique(`${this.scope}${type}`), input: inputs, output: [output], attribute });
    return output;
  }

  /** Adds a node with one fresh output and returns the output's name. */
  op(type: string, inputs: string[], attribute: Attribute[] = []): string {
    return this.node(type, inputs, this.unique(`${this.scope}${type}`), attribute);
  }

  floatConst(data: Float32Array | number[], dims: number[], base = 'const'): string {
    const name = this.unique(base);
    this.initializers.push({ name, dims, data_type: ONNX_FLOAT, raw_data: rawBytes(Float32Array.from(data)) });
    return name;
  }

  scalar(value: number): string {
    return this.floatConst([value], []);
  }

  int64(values: number[]): string {
    const key = values.join(',');
    let name = this.int64Consts.get(key);
    if (name === undefined) {
      name = this.unique('i64');
      this.initializers.push({ name, dims: [values.length], data_type: ONNX_INT64, raw_data: rawBytes(BigInt64Array.from(values.map(BigInt))) });
      this.int64Consts.set(key, name);
    }
    return name;
  }

  input(name: string, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  /** Declares graph output `name`; with `source`, an Identity node writes it (else a node already does). */
  output(name: string, dims: Dim[], source?: string): void {
    if (source !== undefined) this.node('Identity', [source], name);
    this.outputs.push(valueInfo(name, dims));
  }

  encode(name: string, options: EncodeOptions = {}): Uint8Array {
    const model = {
      ir_version: ONNX_IR_VERSION,
      producer_name: 'facetrain',
      ...(options.producerVersion === undefined ? {} : { producer_version: options.producerVersion }),
      opset_import: [{ domain: '', version: ONNX_OPSET }],
      metadata_props: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: { name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
    };
    const error = ModelProto.verify(model);
    if (error) throw new Error(`internal error building ONNX graph ${name}: ${error}`);
    return ModelProto.encode(ModelProto.fromObject(model)).finish();
  }
}
