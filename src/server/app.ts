import Fastify, { type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import { galleryEmbeddingOf } from '../api/gallery.js';
import { GalleryStoreThread } from './gallery-store-thread.js';
import { packageVersions } from '../model-dir/manifest.js';
import { invalidOption } from '../errors.js';
import type { ServerContext } from './context.js';
import { ERROR_SCHEMA, HttpError, clientErrorHandler, frameworkErrors, installErrorHandlers } from './http-error.js';
import { AdmissionGate } from './limits.js';
import { checkBrowserModel } from './browser-model.js';
import { ModelHost } from './model-host.js';
import { registerInfoRoutes } from './routes/info.js';
import { registerPeopleRoutes } from './routes/people.js';
import { registerRecognizeRoutes } from './routes/recognize.js';
import { registerVerifyRoutes } from './routes/verify.js';
import { registerWebRoutes } from './routes/web.js';

export interface ServeOptions {
  /** Model directory written by `facetrain train`; enrolments change it in place. */
  modelDir: string;
  /** Gallery URL (postgres://..., pglite:<folder>, file:<json>, embedded): recognition and enrolment use it instead of the model's head. */
  gallery?: string;
  /** Key for the routes that change the model; without one they answer 403. */
  apiKey?: string;
  /** Largest request body; default 10 MB. */
  maxBodyBytes?: number;
  /** Largest image, checked from its header before decoding; default 40 MP. */
  maxPixels?: number;
  /** Recognitions admitted at once; more get 503 with Retry-After. Default 8. */
  maxInFlight?: number;
  /** Photos in one enrolment request; default 20. */
  maxPhotosPerRequest?: number;
  /** Time a client has to send a whole request; default 30 s. */
  requestTimeoutMs?: number;
  /** Worker threads that decode and recognize photos; default one per core. */
  workers?: number;
  /** A TF.js pipeline export of a face model (`facetrain export --format tfjs`) to serve to the page, which then recognizes in the browser; it holds the templates, so nothing is served without it. */
  browserModel?: string;
  /** fastify/pino level; default 'warn': request lines (info) would carry person names in URLs. */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'silent';
}

export const SERVE_DEFAULTS = Object.freeze({
  maxBodyBytes: 10 * 1024 * 1024,
  maxPixels: 40_000_000,
  maxInFlight: 8,
  maxPhotosPerRequest: 20,
  requestTimeoutMs: 30_000,
  logLevel: 'warn',
} as const);

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw invalidOption(name, 'a positive integer', value);
}

function resolveOptions(options: ServeOptions): Required<Omit<ServeOptions, 'apiKey' | 'workers' | 'gallery'>> & Pick<ServeOptions, 'apiKey' | 'workers' | 'gallery'> {
  const resolved = { ...SERVE_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<ServeOptions>;
  checkPositiveInteger('maxBodyBytes', resolved.maxBodyBytes);
  checkPositiveInteger('maxPixels', resolved.maxPixels);
  checkPositiveInteger('maxInFlight', resolved.maxInFlight);
  checkPositiveInteger('maxPhotosPerRequest', resolved.maxPhotosPerRequest);
  checkPositiveInteger('requestTimeoutMs', resolved.requestTimeoutMs);
  if (options.workers !== undefined) checkPositiveInteger('workers', options.workers);
  return { ...resolved, apiKey: options.apiKey || undefined, gallery: options.gallery || undefined };
}

/** Refuses a declared oversized body before reading it; chunked bodies are capped by the parsers' limits. */
function rejectDeclaredOversize(app: FastifyInstance, maxBodyBytes: number): void {
  app.addHook('onRequest', async (request) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) {
      throw new HttpError('FT_ERR_TOO_LARGE', `the request body is ${declared} bytes, more than this server's limit of ${maxBodyBytes}; send a smaller photo`);
    }
  });
}

/**
 * Answers 408 when a request's body has not fully arrived `timeoutMs` after its headers. Node's own
 * requestTimeout does not cut a body that trickles in (measured: 64-76 s for a 30 s setting), so
 * the limit is enforced here, in the project's error body, and the connection is closed.
 */
function cutSlowBodies(app: FastifyInstance, timeoutMs: number): void {
  app.addHook('onRequest', async (request, reply) => {
    const timer = setTimeout(() => {
      if (request.raw.complete || reply.sent) return;
      reply.hijack();
      const body = JSON.stringify({ error: { code: 'FT_ERR_TIMEOUT', message: `the request was not received within ${timeoutMs / 1000} s; send it again on a faster connection` } });
      reply.raw.writeHead(408, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
      reply.raw.end(body, () => request.raw.socket?.destroy());
    }, timeoutMs);
    timer.unref();
    reply.raw.once('close', () => clearTimeout(timer));
  });
}

/**
 * Builds the recognition service around one model directory without listening, so tests can
 * `inject()` or `listen({ port: 0 })`. Closing the instance disposes the model.
 */
export async function buildServer(options: ServeOptions): Promise<FastifyInstance> {
  const config = resolveOptions(options);
  const host = await ModelHost.open(config.modelDir, config.maxPixels, options.workers);
  await checkBrowserModel(host.current.manifest, options.browserModel, Boolean(config.gallery)).catch((err: unknown) => {
    void host.close();
    throw err;
  });
  const gallery = config.gallery
    ? await (async (url: string) => {
        // the served model's base says under which similarity a face is unknown
        const faces = { ...(await host.galleryEmbedder()), matchThreshold: galleryEmbeddingOf(host.current.manifest, config.modelDir).base.galleryThreshold };
        return { faces, store: await GalleryStoreThread.open(url, faces.dims, config.modelDir) };
      })(config.gallery).catch((err: unknown) => {
        void host.close();
        throw err;
      })
    : undefined;
  const ctx: ServerContext = {
    host,
    gallery,
    gate: new AdmissionGate(config.maxInFlight),
    apiKey: config.apiKey,
    maxBodyBytes: config.maxBodyBytes,
    maxPixels: config.maxPixels,
    browserModel: options.browserModel,
  };
  const app = Fastify({
    logger: { level: config.logLevel },
    bodyLimit: config.maxBodyBytes,
    requestTimeout: config.requestTimeoutMs,
    // the idle-socket timeout must not beat the request timeout, or a slow body gets a bare hang-up instead of the 408 answer
    connectionTimeout: config.requestTimeoutMs + 2000,
    return503OnClosing: true,
    frameworkErrors,
    clientErrorHandler,
  });
  app.addHook('onClose', async () => {
    await host.close();
    await gallery?.store.close();
  });
  installErrorHandlers(app);
  rejectDeclaredOversize(app, config.maxBodyBytes);
  cutSlowBodies(app, config.requestTimeoutMs);
  app.addSchema(ERROR_SCHEMA);
  // parameters are allowed (`image/jpeg; foo=bar`) and ignored: the bytes decide the format
  app.addContentTypeParser(/^image\/[\w.+-]+\s*(;.*)?$/i, { parseAs: 'buffer', bodyLimit: config.maxBodyBytes }, (_request, body, done) => done(null, body));
  await app.register(multipart, {
    limits: { fileSize: config.maxBodyBytes, files: config.maxPhotosPerRequest, fields: 10, parts: config.maxPhotosPerRequest + 10 },
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'facetrain recognition service', version: packageVersions().facetrain!, description: 'Name the people in photos with a model trained by facetrain.' },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  registerInfoRoutes(app, ctx);
  registerRecognizeRoutes(app, ctx);
  registerPeopleRoutes(app, ctx);
  registerVerifyRoutes(app, ctx);
  registerWebRoutes(app, ctx);
  return app;
}
