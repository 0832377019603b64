import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, FacetrainError, type ErrorCode } from '../errors.js';

/** A refusal by the server itself (limits, auth, routing); FacetrainErrors from the library map by their own status. */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly code: ErrorCode;
  readonly headers: Record<string, string>;
  /** The status is the code's in ERROR_CODES. */
  constructor(code: ErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = ERROR_CODES[code].http;
    this.code = code;
    this.headers = headers;
  }
}

export interface ErrorBody {
  error: { code: string; message: string };
}

export const ERROR_SCHEMA = {
  $id: 'Error',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const;

const TOO_LARGE = "the request body is larger than this server's limit; send a smaller photo";

/** fastify's and its plugins' own codes, renamed so clients see one vocabulary. */
const FRAMEWORK_CODES: Record<string, { code: ErrorCode; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'FT_ERR_TOO_LARGE', message: TOO_LARGE },
  FST_REQ_FILE_TOO_LARGE: { code: 'FT_ERR_TOO_LARGE', message: TOO_LARGE },
  FST_FILES_LIMIT: { code: 'FT_ERR_TOO_MANY_FILES' },
  FST_PARTS_LIMIT: { code: 'FT_ERR_TOO_MANY_FILES' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'FT_ERR_CONTENT_TYPE', message: 'this content type is not accepted; send photos as multipart/form-data or with an image/* content type' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { code: 'FT_ERR_CONTENT_TYPE' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'FT_ERR_BAD_REQUEST' },
  FST_ERR_VALIDATION: { code: 'FT_ERR_INVALID_OPTION' },
};

export function toErrorResponse(err: unknown): { status: number; body: ErrorBody; headers: Record<string, string> } {
  if (err instanceof HttpError) return { status: err.statusCode, body: { error: { code: err.code, message: err.message } }, headers: err.headers };
  if (err instanceof FacetrainError) return { status: err.httpStatus, body: { error: { code: err.code, message: err.message } }, headers: {} };
  const e = err as Partial<FastifyError>;
  const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
  if (status >= 500) return { status, body: { error: { code: 'FT_ERR_INTERNAL', message: 'internal error; see the server log' } }, headers: {} };
  const known = e.code ? FRAMEWORK_CODES[e.code] : undefined;
  return { status, body: { error: { code: known?.code ?? 'FT_ERR_BAD_REQUEST', message: known?.message ?? e.message ?? 'bad request' } }, headers: {} };
}

function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } } satisfies ErrorBody);
}

/**
 * Errors fastify answers before any route runs (a URL that is not valid percent-encoding, a path
 * parameter longer than the router allows), in the project's body instead of fastify's default.
 */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply.code(ERROR_CODES.FT_ERR_URL_TOO_LONG.http).type('application/json').send({ error: { code: 'FT_ERR_URL_TOO_LONG', message: 'a part of the URL is too long; person names and file names are at most a few hundred characters' } });
    return;
  }
  void reply.code(ERROR_CODES.FT_ERR_BAD_URL.http).type('application/json').send({ error: { code: 'FT_ERR_BAD_URL', message: 'the URL is not valid (bad percent-encoding); encode names with encodeURIComponent' } });
}

/**
 * Answers that Node's HTTP parser triggers with no request object (the body not sent in time,
 * headers too large, garbage): written on the socket in the project's body.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, message]: [ErrorCode, string] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? ['FT_ERR_TIMEOUT', 'the request was not received in time; send it again on a faster connection']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? ['FT_ERR_HEADERS_TOO_LARGE', 'the request headers are too large']
        : ['FT_ERR_BAD_REQUEST', 'the request is not valid HTTP'];
  const status = ERROR_CODES[code].http;
  const body = errorBody(code, message);
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

/** A route pattern (`/v1/people/:name/photos`) as a test for concrete paths, to tell 404 from 405. */
function patternTest(url: string): RegExp {
  const escaped = url.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\/:[^/]+/g, '/[^/]+').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

/** One place turns every failure into `{ error: { code, message } }`; only unexpected 5xx are logged, never bodies. */
export function installErrorHandlers(app: FastifyInstance): void {
  const routes: { methods: string[]; test: RegExp }[] = [];
  app.addHook('onRoute', (route) => {
    routes.push({ methods: [route.method].flat(), test: patternTest(route.url) });
  });
  app.setErrorHandler((err, request, reply) => {
    const { status, body, headers } = toErrorResponse(err);
    if (status >= 500 && !(err instanceof HttpError)) request.log.error({ err }, 'request failed');
    void reply.code(status).headers(headers).type('application/json').send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const pathname = request.url.split('?')[0]!;
    const allowed = [...new Set(routes.filter((r) => r.test.test(pathname)).flatMap((r) => r.methods))];
    if (allowed.length > 0) {
      void reply.code(ERROR_CODES.FT_ERR_METHOD.http).header('allow', allowed.join(', ')).send({ error: { code: 'FT_ERR_METHOD', message: `${request.method} is not allowed on ${pathname}; use ${allowed.join(' or ')}` } });
      return;
    }
    void reply.code(404).send({ error: { code: 'FT_ERR_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}; see /openapi.json` } });
  });
}
