import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { createInferencePool, modelArtifacts } from './pool.js';
import type { BatchRunner, ModelSession, Runtime } from './runtime.js';

/** The model's own predict on the TF.js backend of this thread. */
function predictSession(model: tfl.LayersModel): ModelSession {
  return {
    async run(input, shape) {
      const outputs = tf.tidy(() => [model.predict(tf.tensor(input, shape)) as tf.Tensor | tf.Tensor[]].flat());
      const data = await Promise.all(outputs.map(async (t) => (await t.data()) as Float32Array));
      tf.dispose(outputs);
      return data;
    },
    release: () => {},
  };
}

/** One wasm backend per core in worker threads: the runtime when onnxruntime is not installed. */
async function poolRunner(model: tfl.LayersModel, batchSize: number): Promise<BatchRunner> {
  const pool = await createInferencePool(await modelArtifacts(model));
  return { rowsPerCall: batchSize * pool.workers, run: (input, shape) => pool.predict(input, shape), dispose: () => pool.dispose() };
}

export const TFJS_RUNTIME: Runtime = Object.freeze({
  name: 'tfjs',
  layersModelSession: async (model: tfl.LayersModel) => predictSession(model),
  batchRunner: poolRunner,
});
