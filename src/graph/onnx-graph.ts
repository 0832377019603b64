import { type Attribute, ModelProto, ONNX_FLOAT, ONNX_INT64, rawBytes } from './onnx-schema.js';
import { ONNX_OPSET } from './onnx.js';

/** A dimension: a size, or 'batch' for the first axis that changes call to call. */
export type Dim = number | 'batch';

function valueInfo(name: string, dims: Dim[]): object {
  const dim = dims.map((d) => (d === 'batch' ? { dim_param: 'batch' } : { dim_value: d }));
  return { name, type: { tensor_type: { elem_type: ONNX_FLOAT, shape: { dim } } } };
}

/**
 * A float32 ONNX graph (opset 13) built node by node: every node gets a fresh output name, and
 * int64 constants (axes, shapes, pads) are shared by value.
 */
export class OnnxGraph {
  private readonly nodes: object[] = [];
  private readonly initializers: object[] = [];
  private readonly inputs: object[] = [];
  private readonly outputs: object[] = [];
  private readonly int64Consts = new Map<string, string>();
  private counter = 0;
  /** Prefix of node names (the layer being emitted), for profiles. */
  scope = '';

  unique(base: string): string {
    return `${base}__${this.counter++}`;
  }

  /** Adds a node with one output and returns the output's name. */
  op(type: string, inputs: string[], attribute: Attribute[] = []): string {
    const output = this.unique(`${this.scope}${type}`);
    this.nodes.push({ op_type: type, name: output, input: inputs, output: [output], attribute });
    return output;
  }

  floatConst(data: Float32Array | number[], dims: number[]): string {
    const name = this.unique('const');
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

  output(name: string, source: string, dims: Dim[]): void {
    this.nodes.push({ op_type: 'Identity', name, input: [source], output: [name], attribute: [] });
    this.outputs.push(valueInfo(name, dims));
  }

  encode(name: string): Uint8Array {
    const model = {
      ir_version: 8,
      producer_name: 'facetrain',
      opset_import: [{ domain: '', version: ONNX_OPSET }],
      graph: { name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
    };
    const error = ModelProto.verify(model);
    if (error) throw new Error(`internal error building the ONNX training graph: ${error}`);
    return ModelProto.encode(ModelProto.fromObject(model)).finish();
  }
}
