import protobuf from 'protobufjs';
import { ONNX_PROTO_DESCRIPTOR } from './onnx-proto/onnx-proto.generated.js';

/** onnx.proto3 as generated from the vendored file (onnx-proto/): field numbers and enums are ONNX's own. */
const root = protobuf.Root.fromJSON(ONNX_PROTO_DESCRIPTOR);

export const ModelProto = root.lookupType('onnx.ModelProto');

const dataTypes = root.lookupEnum('onnx.TensorProto.DataType').values;
const attributeTypes = root.lookupEnum('onnx.AttributeProto.AttributeType').values;
export const ONNX_FLOAT = dataTypes.FLOAT!;
export const ONNX_INT64 = dataTypes.INT64!;
const ATTRIBUTE_INT = attributeTypes.INT!;
const ATTRIBUTE_INTS = attributeTypes.INTS!;

/** A node attribute of the kinds the writers use: one integer or a list of them. */
export interface Attribute {
  name: string;
  type: number;
  i?: number;
  ints?: number[];
}

/** A graph node as the writers build it before encoding. */
export interface OnnxNode {
  op_type: string;
  name: string;
  input: string[];
  output: string[];
  attribute: Attribute[];
}

export const int = (name: string, value: number): Attribute => ({ name, type: ATTRIBUTE_INT, i: value });
export const ints = (name: string, values: number[]): Attribute => ({ name, type: ATTRIBUTE_INTS, ints: values });

/** Initializer raw_data: the little-endian bytes of the values. */
export function rawBytes(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
