import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { servedModelFile } from '../browser-model.js';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ServerContext } from '../context.js';
import { HttpError } from '../http-error.js';

/** Compiled to dist/src/server/routes/: the page's sources stay in src/web of the repo or installed package. */
export const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../src/web');

const require = createRequire(import.meta.url);

/** The TF.js UMD bundles the page loads for in-browser recognition; nothing comes from a CDN. */
const VENDOR_FILES: Record<string, string> = {
  'tf-core.min.js': '@tensorflow/tfjs-core/dist/tf-core.min.js',
  'tf-layers.min.js': '@tensorflow/tfjs-layers/dist/tf-layers.min.js',
  'tf-converter.min.js': '@tensorflow/tfjs-converter/dist/tf-converter.min.js',
  'tf-backend-cpu.min.js': '@tensorflow/tfjs-backend-cpu/dist/tf-backend-cpu.min.js',
  'tf-backend-wasm.min.js': '@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js',
  'tfjs-backend-wasm.wasm': '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm': '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm': '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm',
};

const PAGE_FILES: Record<string, string> = { 'index.html': 'index.html', 'app.js': 'app.js', 'face-pipeline.js': 'face-pipeline.js' };

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
};

/** The page may talk to this server only; the camera stream stays in the page. */
const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
].join('; ');

function notFound(what: string): HttpError {
  return new HttpError('FT_ERR_NOT_FOUND', `${what} does not exist on this server`);
}

async function sendFile(reply: FastifyReply, file: string, cache: 'immutable' | 'no-cache'): Promise<FastifyReply> {
  const body = await readFile(file);
  return reply
    .type(CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream')
    .header('cache-control', cache === 'immutable' ? 'public, max-age=86400' : 'no-cache')
    .header('x-content-type-options', 'nosniff')
    .send(body);
}

export function registerWebRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const hide = { hide: true };
  app.get('/', { schema: hide }, (_request, reply) => sendFile(reply.header('content-security-policy', PAGE_CSP), path.join(WEB_DIR, 'index.html'), 'no-cache'));

  app.get<{ Params: { file: string } }>('/web/:file', { schema: hide }, (request, reply) => {
    const file = PAGE_FILES[request.params.file];
    if (!file) throw notFound(`/web/${request.params.file}`);
    return sendFile(reply, path.join(WEB_DIR, file), 'no-cache');
  });

  app.get<{ Params: { file: string } }>('/vendor/:file', { schema: hide }, (request, reply) => {
    const module = VENDOR_FILES[request.params.file];
    if (!module) throw notFound(`/vendor/${request.params.file}`);
    return sendFile(reply, require.resolve(module), 'immutable');
  });

  app.get<{ Params: { '*': string } }>('/model/*', { schema: { summary: 'The served TF.js model files (model.json, its weights; for a face model the pipeline folder) for in-browser recognition', tags: ['service'] } }, async (request, reply) => {
    const relative = request.params['*'];
    // a face model's files hold per-person templates: served only from the export the operator chose
    const file = await servedModelFile(ctx, relative);
    if (!file) throw notFound(`/model/${relative}`);
    return sendFile(reply, file, 'no-cache');
  });
}
