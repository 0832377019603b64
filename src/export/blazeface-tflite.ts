import type * as flatbuffers from 'flatbuffers';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import { attr, compiledGraph, type GraphNode, nodeName, topologicalOrder } from '../graph/from-graph.js';
import { FacetrainError } from '../errors.js';
import {
  ActivationFunctionType,
  AddOptions,
  BuiltinOperator,
  BuiltinOptions,
  Conv2DOptions,
  DepthwiseConv2DOptions,
  Padding,
  Pool2DOptions,
  ReshapeOptions,
  TensorType,
} from '../graph/tflite-schema/generated/schema_generated.js';
import { bytes, type OpSpec, type OptionsSpec, serialize, type TensorSpec, withPackedFiles } from './tflite.js';
import { buildNetworkMetadata } from './tflite-metadata.js';

/**
 * BlazeFace (the TF.js graph of @vladmandic/human that facetrain detects with) as a float32 TFLite
 * model, batch 1: input `pixels` [1, 256, 256, 3] in -1..1, the graph's four outputs in its order,
 * [1, anchors, values] each, as `detector.onnx` gives them per view. Converted op by op as
 * faces/blazeface-onnx.ts does for ONNX (the graph is small and fixed); TFLite is NHWC like the
 * graph, so no transposes: convolutions (TF padding is TFLite's), ReLU, Add, MaxPool, Pad, Reshape.
 */

/** TFLite's MAX_POOL_2D is past the end of the schema subset's enum. */
const MAX_POOL_2D = 17 as BuiltinOperator;

const INPUT_SIZE = 256;

class BlazeFaceToTflite {
  readonly tensors: TensorSpec[] = [];
  readonly ops: OpSpec[] = [];
  private readonly ids = new Map<string, number>();
  inputId = -1;
  outputIds: number[] = [];

  constructor(private readonly model: GraphModel) {}

  private constantData(input: string): { shape: number[]; data: Float32Array | Int32Array } {
    const tensor = this.model.weights[nodeName(input)]?.[0];
    if (!tensor) throw new FacetrainError('FT_ERR_MODEL', `BlazeFace constant ${input} has no value; reinstall @vladmandic/human`);
    return { shape: tensor.shape.slice(), data: tensor.dataSync() as Float32Array | Int32Array };
  }

  private tensor(spec: TensorSpec): number {
    this.tensors.push(spec);
    return this.tensors.length - 1;
  }

  private id(input: string): number {
    const id = this.ids.get(nodeName(input));
    if (id === undefined) throw new FacetrainError('FT_ERR_MODEL', `BlazeFace node input ${input} was not converted; the model file is not the expected BlazeFace`);
    return id;
  }

  private shape(input: string): number[] {
    return this.tensors[this.id(input)]!.shape;
  }

  /** The node's output tensor, [1, ...shape] float32, and the op that writes it. */
  private add(node: GraphNode, code: BuiltinOperator, inputs: number[], shape: number[], options?: OptionsSpec): void {
    const output = this.tensor({ name: node.name, shape, type: TensorType.FLOAT32 });
    this.ops.push({ code, version: 1, inputs, outputs: [output], options });
    this.ids.set(node.name, output);
  }

  /** Conv2D (HWIO filter -> OHWI) or depthwise (HWC1 -> 1HWC) with TF padding and an optional fused bias and ReLU. */
  private conv(node: GraphNode, depthwise: boolean): void {
    const [, height, width] = this.shape(node.inputNames[0]!);
    const filter = this.constantData(node.inputNames[1]!);
    const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
    const outChannels = depthwise ? ci * co : co;
    let weights: Float32Array;
    if (depthwise) weights = Float32Array.from(filter.data);
    else {
      weights = new Float32Array(filter.data.length);
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) {
        weights[((o * kh + y) * kw + x) * ci + i] = filter.data[((y * kw + x) * ci + i) * co + o]!;
      }
    }
    const fused = attr<string[]>(node, 'fusedOps', []);
    if (fused.some((op) => op !== 'biasadd' && op !== 'relu')) throw new FacetrainError('FT_ERR_MODEL', `BlazeFace node ${node.name} fuses ${fused.join(', ')}; only BiasAdd and Relu are converted`);
    const bias = fused.includes('biasadd') ? Float32Array.from(this.constantData(node.inputNames[2]!).data) : new Float32Array(outChannels);
    const [, sy, sx] = attr<number[]>(node, 'strides', [1, 1, 1, 1]);
    const same = attr<string>(node, 'pad', 'valid') === 'same';
    const padding = same ? Padding.SAME : Padding.VALID;
    const activation = fused.includes('relu') ? ActivationFunctionType.RELU : ActivationFunctionType.NONE;
    const filterShape = depthwise ? [1, kh, kw, outChannels] : [co, kh, kw, ci];
    const filterId = this.tensor({ name: `${node.name}/filter`, shape: filterShape, type: TensorType.FLOAT32, data: bytes(weights) });
    const biasId = this.tensor({ name: `${node.name}/bias`, shape: [outChannels], type: TensorType.FLOAT32, data: bytes(bias) });
    const out = (size: number, kernel: number, stride: number) => (same ? Math.ceil(size / stride) : Math.floor((size - kernel) / stride) + 1);
    const shape = [1, out(height!, kh, sy!), out(width!, kw, sx!), outChannels];
    const options: OptionsSpec = depthwise
      ? { type: BuiltinOptions.DepthwiseConv2DOptions, write: (b: flatbuffers.Builder) => DepthwiseConv2DOptions.createDepthwiseConv2DOptions(b, padding, sx!, sy!, co, activation, 1, 1) }
      : { type: BuiltinOptions.Conv2DOptions, write: (b: flatbuffers.Builder) => Conv2DOptions.createConv2DOptions(b, padding, sx!, sy!, activation, 1, 1) };
    this.add(node, depthwise ? BuiltinOperator.DEPTHWISE_CONV_2D : BuiltinOperator.CONV_2D, [this.id(node.inputNames[0]!), filterId, biasId], shape, options);
  }

  private int32Const(name: string, values: number[], shape = [values.length]): number {
    return this.tensor({ name, shape, type: TensorType.INT32, data: bytes(Int32Array.from(values)) });
  }

  private convert(node: GraphNode): void {
    const input = (i: number): number => this.id(node.inputNames[i]!);
    switch (node.op) {
      case 'Const':
        return;
      case 'Placeholder':
        this.inputId = this.tensor({ name: 'pixels', shape: [1, INPUT_SIZE, INPUT_SIZE, 3], type: TensorType.FLOAT32 });
        this.ids.set(node.name, this.inputId);
        return;
      case '_FusedConv2D':
      case 'Conv2D':
        return this.conv(node, false);
      case 'DepthwiseConv2dNative':
        return this.conv(node, true);
      case 'Relu':
        return this.add(node, BuiltinOperator.RELU, [input(0)], this.shape(node.inputNames[0]!));
      case 'AddV2': {
        const write = (b: flatbuffers.Builder) => AddOptions.createAddOptions(b, ActivationFunctionType.NONE);
        return this.add(node, BuiltinOperator.ADD, [input(0), input(1)], this.shape(node.inputNames[0]!), { type: BuiltinOptions.AddOptions, write });
      }
      case 'MaxPool': {
        const [, ky, kx] = attr<number[]>(node, 'kernelSize', [1, 2, 2, 1]);
        const [, sy, sx] = attr<number[]>(node, 'strides', [1, 2, 2, 1]);
        const [n, h, w, c] = this.shape(node.inputNames[0]!) as [number, number, number, number];
        if (h % sy! !== 0 || w % sx! !== 0 || ky !== sy || kx !== sx) throw new FacetrainError('FT_ERR_MODEL', `BlazeFace pooling ${node.name} is not the expected non-overlapping one`);
        const write = (b: flatbuffers.Builder) => Pool2DOptions.createPool2DOptions(b, Padding.VALID, sx!, sy!, kx!, ky!, ActivationFunctionType.NONE);
        return this.add(node, MAX_POOL_2D, [input(0)], [n, h / sy!, w / sx!, c], { type: BuiltinOptions.Pool2DOptions, write });
      }
      case 'Pad': {
        const p = Array.from(this.constantData(node.inputNames[1]!).data);
        const [n, h, w, c] = this.shape(node.inputNames[0]!) as [number, number, number, number];
        const paddings = this.int32Const(`${node.name}/paddings`, p, [4, 2]);
        return this.add(node, BuiltinOperator.PAD, [input(0), paddings], [n + p[0]! + p[1]!, h + p[2]! + p[3]!, w + p[4]! + p[5]!, c + p[6]! + p[7]!]);
      }
      case 'Reshape': {
        const target = Array.from(this.constantData(node.inputNames[1]!).data);
        const shape = [1, ...target.slice(1)];
        const write = (b: flatbuffers.Builder) => ReshapeOptions.createReshapeOptions(b, ReshapeOptions.createNewShapeVector(b, shape));
        return this.add(node, BuiltinOperator.RESHAPE, [input(0), this.int32Const(`${node.name}/shape`, shape)], shape, { type: BuiltinOptions.ReshapeOptions, write });
      }
      case 'Identity':
        this.ids.set(node.name, input(0));
        return;
      default:
        throw new FacetrainError('FT_ERR_MODEL', `BlazeFace node ${node.name} (${node.op}) has no TFLite conversion; the model file is not the expected BlazeFace`);
    }
  }

  build(description?: DetectorDescription): Uint8Array {
    const outputs = this.model.outputNodes.map(nodeName);
    for (const node of topologicalOrder(compiledGraph(this.model), outputs)) this.convert(node);
    // an output read twice (Identity) would be one tensor named twice: each output gets its node's name
    this.outputIds = outputs.map((name) => {
      const id = this.id(name);
      this.tensors[id]!.name = name;
      return id;
    });
    if (!description) return serialize(this, 'facetrain BlazeFace detector');
    const metadata = buildNetworkMetadata({
      name: 'facetrain-detector',
      description: 'BlazeFace face detector, one view per run; pipeline.json (packed) gives the anchors, the decoding, the search views and the suppression.',
      subgraphName: 'face_detector',
      input: { name: 'pixels', description: 'RGB view of the photo, 256 x 256, pixel / 127.5 - 1, -1 outside the photo', colorSpace: 'RGB', size: INPUT_SIZE, mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] },
      outputs: this.outputIds.map((id) => ({ name: this.tensors[id]!.name, description: `[1, ${this.tensors[id]!.shape.slice(1).join(', ')}]: ${description.rows}` })),
      modelFiles: [{ name: description.file, description: 'The recognition pipeline: detector anchors and decoding, alignment, unknown rule and threshold (facetrain pipeline.json)' }],
    });
    return withPackedFiles(serialize(this, 'facetrain BlazeFace detector', metadata), [{ name: description.file, text: description.pipelineJson }]);
  }
}

/** What the detector's TFLite metadata says: how its rows read, and the pipeline description packed beside it. */
export interface DetectorDescription {
  rows: string;
  file: string;
  pipelineJson: string;
}

/**
 * The BlazeFace GraphModel as .tflite bytes: input `pixels` [1, 256, 256, 3], outputs in
 * `model.outputNodes` order; with `description`, TFLite metadata and the packed pipeline.json.
 */
export function blazeFaceTflite(model: GraphModel, description?: DetectorDescription): Uint8Array {
  return new BlazeFaceToTflite(model).build(description);
}
