import { parentPort, workerData } from 'node:worker_threads';
import { BASE_ROWS } from '../base/index.js';
import { workerFailureOf } from '../runtime/worker-client.js';
import { facePipelineOn } from '../recognize/face-pipeline.js';
import { chooseRuntime } from '../runtime/choose.js';
import { setOnnxThreadsPerSession } from '../runtime/onnxruntime.js';
import type { EmbeddingBaseRow } from '../base/row.js';
import type { TrainEmbedReply, TrainEmbedRequest, TrainEmbedWorkerData } from './train-embed-pool.js';
import { trainingPhotoEmbedder } from './train-photos.js';

const port = parentPort!;
const { base, input, runtime, onnxThreads } = workerData as TrainEmbedWorkerData;
setOnnxThreadsPerSession(onnxThreads);
const pipeline = await facePipelineOn(await chooseRuntime(runtime), BASE_ROWS[base] as EmbeddingBaseRow, input);
const embed = trainingPhotoEmbedder(pipeline);

async function handle(request: TrainEmbedRequest): Promise<Omit<TrainEmbedReply, 'id'>> {
  if (request.kind === 'close') {
    pipeline.dispose();
    // with the port closed the thread ends once onnxruntime has released its sessions
    setImmediate(() => port.close());
    return {};
  }
  return { embedded: await embed(request.job) };
}

// photos are handled as they come (the main thread bounds how many): one decodes while another is in onnxruntime
port.on('message', (request: TrainEmbedRequest & { id: number }) => {
  handle(request).then(
    (reply) => port.postMessage({ ...reply, id: request.id }, [...new Set(reply.embedded?.views.map((v) => v.buffer as ArrayBuffer))]),
    (err: unknown) => {
      port.postMessage({ id: request.id, failure: workerFailureOf(err) });
    },
  );
});
port.postMessage({ ready: true });
