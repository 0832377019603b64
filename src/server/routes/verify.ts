import type { FastifyInstance } from 'fastify';
import { decodeImage } from '../../image/decode.js';
import { loadVerifier, type Verifier } from '../../recognize/verify.js';
import type { ServerContext } from '../context.js';
import { HttpError } from '../http-error.js';
import { checkPixelLimit } from '../limits.js';
import { errorResponses } from '../schemas.js';
import { readPhotos } from '../uploads.js';

export const VERIFY_RESPONSE = {
  type: 'object',
  required: ['same', 'similarity', 'threshold'],
  properties: { same: { type: 'boolean' }, similarity: { type: 'number' }, threshold: { type: 'number' } },
} as const;

const VERIFY_QUERY = {
  type: 'object',
  properties: { threshold: { type: 'number', minimum: -1, maximum: 1, description: "Cosine similarity for 'same'; default the base's, calibrated on LFW pairs" } },
} as const;

const VERIFY_BODY_DOC = {
  description: 'Two photos as the file fields a and b of a multipart form; the largest face of each is compared',
  content: {
    'multipart/form-data': { schema: { type: 'object', properties: { a: { type: 'string', format: 'binary' }, b: { type: 'string', format: 'binary' } }, required: ['a', 'b'] } },
  },
};

/** `POST /v1/verify`: the default face-embedding base, loaded on the first request and kept. */
export function registerVerifyRoutes(app: FastifyInstance, ctx: ServerContext): void {
  let verifier: Promise<Verifier> | undefined;
  app.addHook('onClose', async () => (await verifier?.catch(() => undefined))?.dispose());
  app.post<{ Querystring: { threshold?: number } }>(
    '/v1/verify',
    {
      schema: {
        summary: 'Are the faces in two photos the same person?',
        tags: ['recognition'],
        querystring: VERIFY_QUERY,
        response: { 200: VERIFY_RESPONSE, ...errorResponses(400, 413, 415, 503) },
      },
      config: { swaggerTransform: ({ schema, url }: { schema: object; url: string }) => ({ schema: { ...schema, body: VERIFY_BODY_DOC }, url }) },
    },
    async (request) => {
      const photos = await readPhotos(request, ctx.maxBodyBytes);
      if (photos.length !== 2) throw new HttpError('FT_ERR_NO_PHOTO', `send exactly two photos (file fields a and b), got ${photos.length}`);
      return ctx.gate.run(async () => {
        const images = await Promise.all(
          photos.map(async (p) => {
            await checkPixelLimit(p.bytes, ctx.maxPixels, p.file);
            return decodeImage(p.bytes, p.file, { maxPixels: ctx.maxPixels });
          }),
        );
        verifier ??= loadVerifier();
        const loaded = await verifier;
        const threshold = request.query.threshold ?? loaded.threshold;
        const result = await loaded.verify(images[0]!, images[1]!, [photos[0]!.file, photos[1]!.file]);
        return { ...result, same: result.similarity >= threshold, threshold };
      });
    },
  );
}
