import type * as tfl from '@tensorflow/tfjs-layers';
import type * as Ort from 'onnxruntime-node';

export type OnnxRuntime = typeof Ort;

/** What `--engine` names: onnxruntime-node (native, both cores) or TF.js (wasm). */
export type RuntimeName = 'onnx' | 'tfjs';

/** A model ready to run float32 NHWC batches; one array per output, in the model's output order. */
export interface ModelSession {
  run(input: Float32Array, shape: number[]): Promise<Float32Array[]>;
  /** Frees what the session holds; safe to call more than once. */
  release(): void;
}

/** A model spread over every core for long batch jobs; `rowsPerCall` rows per call keep them all busy. */
export interface BatchRunner {
  readonly rowsPerCall: number;
  run(input: Float32Array, shape: number[]): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

/**
 * Where the networks run. Chosen once per command (`chooseRuntime`) and passed down, so no stage
 * decides it again; each implementation says how it runs a model.
 */
export interface Runtime {
  readonly name: RuntimeName;
  /** onnxruntime-node's module on the onnx runtime: the ONNX training steps and embedders build their own graphs on it. */
  readonly ort?: OnnxRuntime;
  /** A layers model for this thread's requests (onnxruntime: converted to ONNX in memory, threaded; TF.js: predict on its backend). */
  layersModelSession(model: tfl.LayersModel): Promise<ModelSession>;
  /** A layers model on every core, `batchSize` rows per core (onnxruntime's threads; TF.js: one wasm backend per core in workers). */
  batchRunner(model: tfl.LayersModel, batchSize: number): Promise<BatchRunner>;
}
