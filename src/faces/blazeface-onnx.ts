import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import { attr, compiledGraph, type GraphNode, nodeName } from '../graph/from-graph.js';
import { ONNX_OPSET, type OnnxInitializer, type OnnxNode, valueInfo } from '../graph/onnx.js';
import { type Attribute, int, ints, ModelProto, ONNX_FLOAT, ONNX_INT64, rawBytes } from '../graph/onnx-schema.js';
import { FacetrainError } from '../errors.js';
import { onnxChannelBlock } from '../runtime/onnxruntime.js';
import { cachedConversion } from '../util/network-cache.js';
import { installedPackageFile } from '../util/package-file.js';
import { loadHumanModel } from './human-models.js';

/**
 * BlazeFace (the TF.js graph shipped by @vladmandic/human) written as an ONNX model in memory, so
 * onnxruntime runs it on every core and on many views at once: the TF.js graph is pinned to batch 1,
 * this one takes [views, 256, 256, 3] NHWC (with `anySize`, [views, height, width, 3] for any multiple
 * of 32 on each side: the convolutions' padding is the same for every even size, and the outputs
 * have one row per anchor of that size) and gives the four outputs of the graph in its order.
 * The graph is small and fixed (convolutions, depthwise convolutions, ReLU, Add, MaxPool, channel
 * Pad, Reshape), so it is converted op by op here rather than through the general IR.
 */

/** TF "SAME" padding for one axis: the extra pixel goes after, as TF does. */
function samePads(size: number, kernel: number, stride: number): [number, number] {
  const total = Math.max((Math.ceil(size / stride) - 1) * stride + kernel - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

class BlazeFaceToOnnx {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  /** NCHW shape (without batch) of every converted tensor. */
  private readonly shapes = new Map<string, [number, number, number]>();
  /** Channels a tensor really has, where zero channels were appended to reach `channelBlock`. */
  private readonly realChannels = new Map<string, number>();
  /** Tensors reshaped into the outputs: their channels are the outputs' values per anchor. */
  private readonly unpadded = new Set<string>();

  constructor(private readonly model: GraphModel, private readonly anySize: boolean, private readonly channelBlock: number) {}

  private constantData(input: string): { shape: number[]; data: Float32Array | Int32Array } {
    const tensor = this.model.weights[nodeName(input)]?.[0];
    if (!tensor) throw new FacetrainError('FT_ERR_MODEL', `BlazeFace constant ${input} has no value; reinstall @vladmandic/human`);
    return { shape: tensor.shape.slice(), data: tensor.dataSync() as Float32Array | Int32Array };
  }

  private floatConst(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name, dims, data_type: ONNX_FLOAT, raw_data: rawBytes(data) });
    return name;
  }

  private int64Const(name: string, values: number[]): string {
    this.initializers.push({ name, dims: [values.length], data_type: ONNX_INT64, raw_data: rawBytes(BigInt64Array.from(values.map(BigInt))) });
    return name;
  }

  private add(op_type: string, name: string, input: string[], shape: [number, number, number], attribute: Attribute[] = []): string {
    this.nodes.push({ op_type, name, input, output: [name], attribute });
    this.shapes.set(name, shape);
    // an elementwise op or pooling keeps its input's real channels
    const real = input[0] === undefined ? undefined : this.realChannels.get(input[0]);
    if (real !== undefined && this.shapes.get(input[0]!)?.[0] === shape[0]) this.realChannels.set(name, real);
    return name;
  }

  private shape(name: string): [number, number, number] {
    const shape = this.shapes.get(nodeName(name));
    if (!shape) throw new FacetrainError('FT_ERR_MODEL', `BlazeFace node input ${name} was not converted; the model file is not the expected BlazeFace`);
    return shape;
  }

  /** Conv2D (HWIO filter) or depthwise (HWC1 filter) with TF padding and an optional fused bias and ReLU. */
  private conv(node: GraphNode, depthwise: boolean): void {
    const input = nodeName(node.inputNames[0]!);
    const [channels, height, width] = this.shape(input);
    const filter = this.constantData(node.inputNames[1]!);
    const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
    if (depthwise && co !== 1) throw new FacetrainError('FT_ERR_MODEL', `BlazeFace node ${node.name} multiplies channels in a depthwise convolution; only a multiplier of 1 is converted`);
    // the weights of stored (padded) channels beyond the real ones stay zero: those channels stay zero throughout
    const outChannels = depthwise ? channels : this.stored(co, node.name);
    // HWIO -> OIHW (depthwise: HW C 1 -> C 1 H W)
    const inPerGroup = depthwise ? 1 : channels;
    const oihw = new Float32Array(outChannels * inPerGroup * kh * kw);
    for (let y = 0; y < kh; y++) {
      for (let x = 0; x < kw; x++) {
        for (let i = 0; i < ci; i++) {
          for (let o = 0; o < co; o++) {
            const out = depthwise ? i * co + o : o;
            const inIndex = depthwise ? 0 : i;
            oihw[((out * inPerGroup + inIndex) * kh + y) * kw + x] = filter.data[((y * kw + x) * ci + i) * co + o]!;
          }
        }
      }
    }
    const [, sy, sx] = attr<number[]>(node, 'strides', [1, 1, 1, 1]);
    const same = attr<string>(node, 'pad', 'valid') === 'same';
    const [top, bottom] = same ? samePads(height, kh, sy!) : [0, 0];
    const [left, right] = same ? samePads(width, kw, sx!) : [0, 0];
    const fused = attr<string[]>(node, 'fusedOps', []);
    const inputs = [input, this.floatConst(`${node.name}/filter`, [outChannels, inPerGroup, kh, kw], oihw)];
    if (fused.includes('biasadd')) {
      const bias = new Float32Array(outChannels);
      bias.set(this.constantData(node.inputNames[2]!).data);
      inputs.push(this.floatConst(`${node.name}/bias`, [outChannels], bias));
    }
    const outShape: [number, number, number] = [outChannels, Math.floor((height + top + bottom - kh) / sy!) + 1, Math.floor((width + left + right - kw) / sx!) + 1];
    const attributes = [ints('kernel_shape', [kh, kw]), ints('strides', [sy!, sx!]), ints('pads', [top, left, bottom, right]), ...(depthwise ? [int('group', channels)] : [])];
    const relu = fused.includes('relu');
    const conv = this.add('Conv', relu ? `${node.name}/conv` : node.name, inputs, outShape, attributes);
    if (relu) this.add('Relu', node.name, [conv], outShape);
    this.realChannels.set(node.name, depthwise ? this.real(input) : co);
    if (fused.some((op) => op !== 'biasadd' && op !== 'relu')) throw new FacetrainError('FT_ERR_MODEL', `BlazeFace node ${node.name} fuses ${fused.join(', ')}; only BiasAdd and Relu are converted`);
  }

  /**
   * Zero channels appended (the shortcut of a block that widens) as a 1x1 convolution by an identity
   * matrix, the exact same values: onnxruntime runs convolutions and residual Adds in its blocked
   * layout and a Pad is not, so a Pad cost a reorder out and back around every later block of its
   * stage and kept their Add and ReLU from fusing into the convolutions.
   */
  private channelsAppended(name: string, input: string, added: number): void {
    const [channels, height, width] = this.shape(input);
    const real = this.real(input);
    const out = this.stored(real + added, name);
    const identity = new Float32Array(out * channels);
    for (let i = 0; i < real; i++) identity[i * channels + i] = 1;
    const weights = this.floatConst(`${name}/identity`, [out, channels, 1, 1], identity);
    this.add('Conv', name, [input, weights], [out, height, width], [ints('kernel_shape', [1, 1])]);
    this.realChannels.set(name, real + added);
  }

  /**
   * Channels stored for a tensor of `real` channels: rounded up to onnxruntime's channel block (zero
   * channels appended), so every convolution runs in its blocked layout; a tensor that is reshaped
   * into the outputs (`unpadded`) and one narrower than a block keep their channels.
   */
  /** Real (unpadded) channels of a converted tensor. */
  private real(name: string): number {
    return this.realChannels.get(nodeName(name)) ?? this.shape(name)[0];
  }

  private stored(real: number, name: string): number {
    const block = this.channelBlock;
    return real < block || this.unpadded.has(name) ? real : Math.ceil(real / block) * block;
  }

  private convert(node: GraphNode): void {
    const input = (i: number): string => nodeName(node.inputNames[i]!);
    switch (node.op) {
      case 'Const':
        return;
      case 'Placeholder':
        this.add('Transpose', node.name, ['pixels'], [3, 256, 256], [ints('perm', [0, 3, 1, 2])]);
        return;
      case '_FusedConv2D':
      case 'Conv2D':
        return this.conv(node, false);
      case 'DepthwiseConv2dNative':
        return this.conv(node, true);
      case 'Relu':
        this.add('Relu', node.name, [input(0)], this.shape(input(0)));
        return;
      case 'AddV2':
        this.add('Add', node.name, [input(0), input(1)], this.shape(input(0)));
        return;
      case 'MaxPool': {
        const [, ky, kx] = attr<number[]>(node, 'kernelSize', [1, 2, 2, 1]);
        const [, sy, sx] = attr<number[]>(node, 'strides', [1, 2, 2, 1]);
        const [c, h, w] = this.shape(input(0));
        if (h % sy! !== 0 || w % sx! !== 0 || ky !== sy || kx !== sx) throw new FacetrainError('FT_ERR_MODEL', `BlazeFace pooling ${node.name} is not the expected non-overlapping one`);
        this.add('MaxPool', node.name, [input(0)], [c, h / sy!, w / sx!], [ints('kernel_shape', [ky!, kx!]), ints('strides', [sy!, sx!])]);
        return;
      }
      case 'Pad': {
        // NHWC paddings [[n0,n1],[h0,h1],[w0,w1],[c0,c1]] -> ONNX NCHW begins then ends.
        const p = Array.from(this.constantData(node.inputNames[1]!).data);
        const [c, h, w] = this.shape(input(0));
        if (p.every((v, i) => i === 7 || v === 0)) {
          this.channelsAppended(node.name, input(0), p[7]!);
          return;
        }
        const pads = this.int64Const(`${node.name}/pads`, [p[0]!, p[6]!, p[2]!, p[4]!, p[1]!, p[7]!, p[3]!, p[5]!]);
        this.add('Pad', node.name, [input(0), pads], [c + p[6]! + p[7]!, h + p[2]! + p[3]!, w + p[4]! + p[5]!]);
        return;
      }
      case 'Reshape': {
        // TF reshapes NHWC memory: back to NHWC first, then the graph's shape with a free batch.
        const [c, h, w] = this.shape(input(0));
        if (this.real(input(0)) !== c) throw new Error(`internal error converting BlazeFace: ${node.name} reshapes appended channels`);
        const nhwc = this.add('Transpose', `${node.name}/nhwc`, [input(0)], [h, w, c], [ints('perm', [0, 2, 3, 1])]);
        const target = Array.from(this.constantData(node.inputNames[1]!).data);
        // any size: batch kept (0), anchors counted from the input's size (-1), the values per anchor as in the graph
        const shape = this.int64Const(`${node.name}/shape`, this.anySize ? [0, -1, target[2]!] : [-1, ...target.slice(1)]);
        this.add('Reshape', node.name, [nhwc, shape], [target[1]!, target[2]!, 1]);
        return;
      }
      case 'Identity':
        this.add('Identity', node.name, [input(0)], this.shape(input(0)));
        return;
      default:
        throw new FacetrainError('FT_ERR_MODEL', `BlazeFace node ${node.name} (${node.op}) has no ONNX conversion; the model file is not the expected BlazeFace`);
    }
  }

  build(): Uint8Array {
    const graph = compiledGraph(this.model);
    const outputs = this.model.outputNodes.map(nodeName);
    const order: GraphNode[] = [];
    const seen = new Set<string>();
    const visit = (name: string): void => {
      if (seen.has(name)) return;
      seen.add(name);
      const node = graph.nodes[name]!;
      for (const input of node.inputNames) visit(nodeName(input));
      order.push(node);
    };
    for (const output of outputs) visit(output);
    for (const node of order) if (node.op === 'Reshape') this.unpadded.add(nodeName(node.inputNames[0]!));
    for (const node of order) this.convert(node);
    const model = {
      ir_version: 8,
      producer_name: 'facetrain',
      opset_import: [{ domain: '', version: ONNX_OPSET }],
      graph: {
        name: 'blazeface',
        node: this.nodes,
        initializer: this.initializers,
        input: [valueInfo('pixels', this.anySize ? ['views', 'height', 'width', 3] : ['views', 256, 256, 3])],
        output: outputs.map((name) => valueInfo(name, ['views', ...(this.anySize ? [`${name}_anchors`, this.shape(name)[1]] : this.shape(name).slice(0, 2))])),
      },
    };
    const error = ModelProto.verify(model);
    if (error) throw new Error(`internal error building the BlazeFace ONNX model: ${error}`);
    return ModelProto.encode(ModelProto.fromObject(model)).finish();
  }
}

/**
 * The BlazeFace GraphModel as ONNX bytes: input `pixels` [views, 256, 256, 3] (`anySize`: [views,
 * height, width, 3], sides multiples of 32), outputs in `model.outputNodes` order. `channelBlock`:
 * every tensor's channels rounded up to a multiple of it with zero channels (the same detections),
 * for the machine it runs on (`onnxChannelBlock`); 1 (default) writes the graph's own channels, as
 * an export for other machines needs.
 */
export function blazeFaceOnnx(model: GraphModel, options: { anySize?: boolean; channelBlock?: number } = {}): Uint8Array {
  return new BlazeFaceToOnnx(model, options.anySize ?? false, options.channelBlock ?? 1).build();
}

/** The files of a TF.js graph shipped as `<name>.json` beside its weight files, json first. */
async function graphFiles(jsonPath: string): Promise<Uint8Array[]> {
  const json = await readFile(jsonPath);
  const manifest = (JSON.parse(json.toString('utf8')) as { weightsManifest?: { paths: string[] }[] }).weightsManifest ?? [];
  const weights = await Promise.all(manifest.flatMap((group) => group.paths).map((file) => readFile(path.join(path.dirname(jsonPath), file))));
  return [json, ...weights];
}

/**
 * BlazeFace's ONNX bytes (as `blazeFaceOnnx` writes them) from the network cache, keyed by the
 * shipped graph's files, this converter's code and the TF.js converter's version; on a miss the TF.js
 * graph is loaded, converted and stored. A hit loads no TF.js at all.
 */
export async function cachedBlazeFaceOnnx(modelsDir: string, options: { anySize?: boolean; cacheDir?: string } = {}): Promise<Uint8Array> {
  const anySize = options.anySize ?? false;
  const channelBlock = onnxChannelBlock();
  const { version } = JSON.parse(await readFile(installedPackageFile('@tensorflow/tfjs-converter', 'package.json'), 'utf8')) as { version: string };
  const converter = { code: [new URL('../graph/', import.meta.url), new URL(import.meta.url)], settings: `tfjs-converter ${version}, anySize ${anySize}, channelBlock ${channelBlock}` };
  const sources = await graphFiles(path.join(modelsDir, 'blazeface.json'));
  return cachedConversion({ name: anySize ? 'blazeface-any-size' : 'blazeface', sources, converter, cacheDir: options.cacheDir }, async () => {
    const model = await loadHumanModel('blazeface', modelsDir);
    try {
      return blazeFaceOnnx(model, { anySize, channelBlock });
    } finally {
      model.dispose();
    }
  });
}

/**
 * The any-size model with its input's height and width written in (the batch stays free): with
 * every size known onnxruntime plans and fuses as for the square model, where the free sizes cost
 * a quarter more time on the same input (a 256 px view 5.6 vs 4.5 ms, a 320x256 frame view 7.0 vs
 * 5.7 ms; one thread, 2 December 16:55).
 */
export function withInputSize(anySize: Uint8Array, rows: number, columns: number): Uint8Array {
  const model = ModelProto.toObject(ModelProto.decode(anySize), { longs: Number }) as { graph: { input: object[] } };
  model.graph.input = [valueInfo('pixels', ['views', rows, columns, 3])];
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}
