import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { HttpError } from './http-error.js';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Compares fixed-length digests so neither the key's content nor its length leaks through timing. */
export function keysMatch(expected: string, given: string): boolean {
  return timingSafeEqual(digest(expected), digest(given));
}

function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header !== '') return header;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  return match?.[1];
}

/** onRequest hook for routes that change the model: runs before any body is read. */
export function requireApiKey(apiKey: string | undefined): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    if (!apiKey) {
      throw new HttpError('FT_ERR_WRITE_DISABLED', 'changing the model is disabled because this server was started without an API key; restart it with one');
    }
    const given = presentedKey(request);
    if (given === undefined) {
      throw new HttpError('FT_ERR_AUTH', 'this route needs the API key in an x-api-key header or Authorization: Bearer <key>', { 'www-authenticate': 'Bearer' });
    }
    if (!keysMatch(apiKey, given)) throw new HttpError('FT_ERR_AUTH', 'the API key is wrong', { 'www-authenticate': 'Bearer' });
  };
}
