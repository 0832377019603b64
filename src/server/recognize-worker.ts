import { parentPort, workerData } from 'node:worker_threads';
import { setOnnxThreadsPerSession } from '../runtime/onnxruntime.js';
import { headerDimensions } from '../image/dimensions.js';
import { loadRecognizer, type Recognizer } from '../recognize/recognizer.js';
import { FacetrainError } from '../errors.js';
import { HttpError } from './http-error.js';
import { checkPixelCount } from './limits.js';
import { galleryEmbedJobs, isGalleryEmbedRequest } from './gallery-embed-job.js';
import type { PoolReply, PoolRequest, RecognizeJob, RecognizeWorkerData } from './recognize-pool.js';

const port = parentPort!;
const { modelDir, maxPixels, runtime, onnxThreads } = workerData as RecognizeWorkerData;
setOnnxThreadsPerSession(onnxThreads);

const load = (): Promise<Recognizer> => loadRecognizer(modelDir, { maxPixels, engine: runtime });
let recognizer = load();
const gallery = galleryEmbedJobs(modelDir, maxPixels, runtime);
// One job at a time: the work is CPU-bound, and a reload then never races a recognition.
let queue: Promise<unknown> = recognizer.catch(() => undefined);

const round = (ms: number): number => Math.round(ms * 10) / 10;

async function recognize(job: RecognizeJob): Promise<Omit<PoolReply, 'id'>> {
  const started = performance.now();
  let decoded = started;
  // the header is read here, once, for the pixel limit and the answer's size: the event loop reads none of the photo
  const image = (await headerDimensions(job.bytes, { oriented: true })) ?? { width: 0, height: 0 };
  checkPixelCount(image, maxPixels, job.label);
  const current = await recognizer;
  const faces = await current.predict(job.bytes, { topK: job.topK, threshold: job.threshold, onDecoded: () => (decoded = performance.now()) });
  return { faces, image, decodeMs: round(decoded - started), recognizeMs: round(performance.now() - decoded) };
}

async function handle(request: PoolRequest): Promise<Omit<PoolReply, 'id'>> {
  if (request.kind === 'recognize') return recognize(request);
  if (isGalleryEmbedRequest(request)) return gallery.handle(request);
  if (request.kind === 'reload') {
    const next = load();
    await next;
    const old = await recognizer.catch(() => undefined);
    recognizer = next;
    old?.dispose();
    return {};
  }
  if (request.kind === 'close') {
    (await recognizer.catch(() => undefined))?.dispose();
    await gallery.dispose();
    // with the port closed the thread ends once onnxruntime has released its sessions
    setImmediate(() => port.close());
    return {};
  }
  await recognizer;
  return {};
}

port.on('message', (request: PoolRequest & { id: number }) => {
  const run = queue.then(() => handle(request));
  queue = run.catch(() => undefined);
  run.then(
    (reply) => port.postMessage({ ...reply, id: request.id }),
    (err: unknown) => {
      const failure = err instanceof FacetrainError || err instanceof HttpError ? { code: err.code, message: err.message } : { message: (err as Error).message };
      port.postMessage({ id: request.id, failure });
    },
  );
});
port.postMessage({ ready: true });
