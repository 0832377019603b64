import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { RgbImage } from '../image/decode.js';
import type { IrBuilder } from '../graph/ir.js';

/**
 * How an embedding network wants its pixels: `value = pixel * scale + offset`, RGB, NHWC
 * (FaceRes: 0..255 as float32, as Human multiplies its 0..1 face crop by 255 before running it).
 */
export interface InputNormalisation {
  scale: number;
  offset: number;
  channels: 'RGB';
  layout: 'NHWC';
}

/** A network turning aligned faces into embeddings: what every embedding base provides. */
export interface FaceEmbedder {
  /** Side of the square aligned face the model takes, in pixels. */
  readonly inputSize: number;
  /** Length of each embedding. */
  readonly dims: number;
  /**
   * The TF.js graph model (for FaceRes: input `input_1` [n, 224, 224, 3]), for export and other
   * runtimes; absent for an embedder that runs on one runtime only (MobileFaceNet: onnxruntime).
   */
  readonly model?: GraphModel;
  /** The graph node whose output is the (not yet normalised) embedding; set with `model`. */
  readonly outputNode?: string;
  readonly normalisation: Readonly<InputNormalisation>;
  /**
   * For a network that is no TF.js graph (MobileFaceNet): appends it as IR ops reading `input`
   * (normalised pixels, [1, inputSize, inputSize, 3]) and returns the embedding before L2
   * normalisation, so every exporter can write it.
   */
  readonly appendIr?: (b: IrBuilder, input: string) => string;
  /** One L2-normalised embedding per face; faces of another size are resized first. */
  embed(faces: RgbImage[]): Promise<Float32Array[]>;
  dispose(): void;
}
