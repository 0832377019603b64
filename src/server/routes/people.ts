import type { FastifyInstance } from 'fastify';
import { enrollPerson, forgetPerson } from '../../api/enroll.js';
import { requireApiKey } from '../auth.js';
import type { ServerContext } from '../context.js';
import { HttpError } from '../http-error.js';
import { checkPixelLimit } from '../limits.js';
import { ENROL_RESPONSE, errorResponses, FORGET_RESPONSE, PEOPLE_RESPONSE, PERSON_PARAMS, UPLOAD_BODY_DOC } from '../schemas.js';
import { readPhotos } from '../uploads.js';

interface PersonParams {
  name: string;
}

const security: Record<string, string[]>[] = [{ apiKey: [] }, { bearer: [] }];

export function registerPeopleRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const onRequest = requireApiKey(ctx.apiKey);
  const people = () => ({ people: [...ctx.host.current.labels] });

  app.get('/v1/people', { schema: { summary: 'The people this model knows', tags: ['people'], response: { 200: PEOPLE_RESPONSE } } }, async () => people());

  app.post<{ Params: PersonParams }>(
    '/v1/people/:name/photos',
    {
      onRequest,
      schema: {
        summary: 'Teach the model a person from a few photos (new or existing person)',
        tags: ['people'],
        security,
        params: PERSON_PARAMS,
        response: { 201: ENROL_RESPONSE, ...errorResponses(400, 401, 403, 413, 415, 422) },
      },
      config: { swaggerTransform: ({ schema, url }: { schema: object; url: string }) => ({ schema: { ...schema, body: UPLOAD_BODY_DOC.photos }, url }) },
    },
    async (request, reply) => {
      const { name } = request.params;
      const photos = await readPhotos(request, ctx.maxBodyBytes);
      for (const photo of photos) await checkPixelLimit(photo.bytes, ctx.maxPixels, photo.file);
      const result = await ctx.host.modify((modelDir) => enrollPerson(modelDir, name, photos, { maxPixels: ctx.maxPixels }));
      if (result.added === 0 && result.alreadyKnown === 0) {
        const reasons = result.skipped.map((s) => `${s.file}: ${s.reason}`).join('; ');
        throw new HttpError('FT_ERR_NO_USABLE_PHOTO', `none of the ${photos.length} photos could be used (${reasons}); send clear photos of one face`);
      }
      return reply.code(201).send({ name, ...result, ...people() });
    },
  );

  app.delete<{ Params: PersonParams }>(
    '/v1/people/:name',
    {
      onRequest,
      schema: {
        summary: 'Forget a person: remove them from the model',
        tags: ['people'],
        security,
        params: PERSON_PARAMS,
        response: { 200: FORGET_RESPONSE, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const { name } = request.params;
      await ctx.host.modify(async (modelDir) => {
        // checked under the lock: a concurrent forget of the same person must see the updated labels
        if (!ctx.host.current.labels.includes(name)) throw new HttpError('FT_ERR_UNKNOWN_PERSON', `no person named "${name}" in this model; GET /v1/people lists them`);
        await forgetPerson(modelDir, name);
      });
      return { removed: name, ...people() };
    },
  );
}
