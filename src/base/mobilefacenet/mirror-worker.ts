import { parentPort, workerData } from 'node:worker_threads';
import { createOnnxSession, loadOnnxRuntime } from '../../runtime/onnxruntime.js';
import { workerFailureOf } from '../../runtime/worker-client.js';
import type { MirrorReply, MirrorRequest, MirrorWorkerData } from './mobilefacenet.js';

const port = parentPort!;
const { onnx } = workerData as MirrorWorkerData;
const ort = await loadOnnxRuntime();
// the same model and options as the main thread's session: the same values to the bit
const session = await createOnnxSession(ort!, onnx, { threads: 1, spinning: false });

port.on('message', (request: MirrorRequest & { id: number }) => {
  session.run(request.input, request.shape).then(
    ([output]) => port.postMessage({ id: request.id, output } satisfies MirrorReply, [output!.buffer as ArrayBuffer]),
    (err: unknown) => port.postMessage({ id: request.id, error: workerFailureOf(err).message } satisfies MirrorReply),
  );
});
port.postMessage({ ready: true });
