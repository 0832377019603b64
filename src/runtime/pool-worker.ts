import { parentPort, workerData } from 'node:worker_threads';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../tfjs/backend.js';
import type { PoolRequest, PoolResponse, PoolWorkerData } from './pool.js';

const port = parentPort!;
const { modelTopology, weightSpecs, weightData } = workerData as PoolWorkerData;

await initEngine('wasm');
const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs, weightData }));

function predict({ input, shape }: PoolRequest): Float32Array[] {
  return tf.tidy(() => {
    const result = model.predict(tf.tensor(input, shape));
    const outputs = Array.isArray(result) ? result : [result];
    return outputs.map((output) => output.dataSync() as Float32Array);
  });
}

port.on('message', (request: PoolRequest) => {
  let response: PoolResponse;
  try {
    const outputs = predict(request);
    response = { id: request.id, outputs };
    port.postMessage(response, outputs.map((o) => o.buffer as ArrayBuffer));
  } catch (err) {
    response = { id: request.id, error: (err as Error).message };
    port.postMessage(response);
  }
});
port.postMessage({ ready: true });
