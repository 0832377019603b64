import { parentPort, workerData } from 'node:worker_threads';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../tfjs/backend.js';
import type { ReplicaRequest, ReplicaResponse, ReplicaWorkerData, ModelBlob } from './parallel.js';
import { applyFlatGradients, partGradients, replicaForward, replicaWeights, scoreShared, variablesOf } from './replica.js';

const port = parentPort!;
const data = workerData as ReplicaWorkerData;

await initEngine('wasm');
const load = (blob: ModelBlob) => tfl.loadLayersModel(tf.io.fromMemory(blob));
const models = { tail: data.tail && (await load(data.tail)), head: await load(data.head) };
const weights = replicaWeights(models);
const names = weights.map((w) => w.originalName);
if (names.join() !== data.weightNames.join()) throw new Error(`replica weights differ from the main thread's: ${names.join()} vs ${data.weightNames.join()}`);
const variables = variablesOf(weights);
const forward = replicaForward(models);
const optimizer = tf.train.adam(data.learningRate);

function handle(request: ReplicaRequest): ReplicaResponse {
  switch (request.kind) {
    case 'gradients':
      return { id: request.id, ...partGradients(forward, variables, data.train.inputs, data.numClasses, request.part, data.gradients) };
    case 'apply':
      applyFlatGradients(optimizer, variables, data.average);
      return { id: request.id };
    case 'evaluate':
      return { id: request.id, ...scoreShared(forward, data.val!, request.rows) };
    case 'weights':
      return { id: request.id, weights: variables.map((v) => v.dataSync() as Float32Array) };
  }
}

port.on('message', (request: ReplicaRequest) => {
  try {
    port.postMessage(handle(request));
  } catch (err) {
    port.postMessage({ id: request.id, error: (err as Error).message } satisfies ReplicaResponse);
  }
});
port.postMessage({ ready: true });
