import type { FastifyError, FastifyInstance } from 'fastify';
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

const TOO_LARGE = "the request body is larger than this server's limit (serve --max-body-mb); send a smaller photo";

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

/** One place turns every failure into `{ error: { code, message } }`; only unexpected 5xx are logged, never bodies. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const { status, body, headers } = toErrorResponse(err);
    if (status >= 500 && !(err instanceof HttpError)) request.log.error({ err }, 'request failed');
    void reply.code(status).headers(headers).type('application/json').send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: { code: 'FT_ERR_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}; see /openapi.json` } });
  });
}
