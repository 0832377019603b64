import type { GraphModel } from '@tensorflow/tfjs-converter';
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

export type ExportFormat = 'onnx' | 'tflite' | 'tflite-fp16' | 'tflite-int8';

/** How a photo becomes the model input: resize to size x size RGB, then (pixel - mean) / std per channel. */
export interface InputSpec {
  size: number;
  mean: number[];
  std: number[];
}

/** A frozen embedding GraphModel cut at `outputNode`, L2-normalised, then a trained head. */
export interface EmbeddingRecognizer {
  graph: GraphModel;
  outputNode: string;
  head: tfl.LayersModel;
}

export interface ExportableRecognizer {
  /** One LayersModel from image to probabilities, or an embedding graph plus head. */
  model: tfl.LayersModel | EmbeddingRecognizer;
  /** Class names in output order. */
  labels: string[];
  input: InputSpec;
  /** Model name stored in the file; defaults to "facetrain-recognizer". */
  name?: string;
}

export interface ExportOptions {
  /** tflite-int8 only: model inputs (already normalised, NHWC) to calibrate activation ranges on; a few dozen real photos. */
  representativeInputs?: tf.Tensor4D;
  /**
   * tflite-int8 only: type of the input and output tensors, uint8 (the classifier's default, as
   * Model Maker), int8, or float32 (the pipeline's default: quantized inside the graph).
   */
  int8Io?: 'uint8' | 'int8' | 'float32';
}
