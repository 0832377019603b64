import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { RgbImage } from '../image/decode.js';

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
  /** The graph model (for FaceRes: input `input_1` [n, 224, 224, 3]), for export and other runtimes. */
  readonly model: GraphModel;
  /** The graph node whose output is the (not yet normalised) embedding. */
  readonly outputNode: string;
  readonly normalisation: Readonly<InputNormalisation>;
  /** One L2-normalised embedding per face; faces of another size are resized first. */
  embed(faces: RgbImage[]): Promise<Float32Array[]>;
  dispose(): void;
}
