import type { FastifyInstance } from 'fastify';
import { enrollPerson, forgetPerson } from '../../api/enroll.js';
import { enrollInGallery } from '../../api/gallery.js';
import { FacetrainError } from '../../errors.js';
import { requireApiKey } from '../auth.js';
import type { ServerContext } from '../context.js';
import { HttpError } from '../http-error.js';
import { checkPixelLimit } from '../limits.js';
import { ENROL_RESPONSE, errorResponses, FORGET_RESPONSE, PEOPLE_RESPONSE, PERSON_PARAMS, type PersonParams, UPLOAD_BODY_DOC } from '../schemas.js';
import { readPhotos } from '../uploads.js';

const security: Record<string, string[]>[] = [{ apiKey: [] }, { bearer: [] }];

export function registerPeopleRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const onRequest = requireApiKey(ctx.apiKey);
  const people = async () => ({ people: ctx.gallery ? (await ctx.gallery.store.people()).map((p) => p.name) : [...ctx.host.current.labels] });
  const noUsablePhoto = (count: number, reasons: string) =>
    new HttpError('FT_ERR_NO_USABLE_PHOTO', `none of the ${count} photos could be used (${reasons}); send clear photos of one face`);

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
      const gallery = ctx.gallery;
      const result = gallery
        ? await enrollInGallery(gallery.store, gallery.faces, name, photos).catch((err: unknown) => {
            // no photo had a usable face: the same refusal as the model's own enrolment
            if (err instanceof FacetrainError && err.code === 'FT_ERR_IMAGE') throw noUsablePhoto(photos.length, err.message);
            throw err;
          })
        : await ctx.host.modify((modelDir) => enrollPerson(modelDir, name, photos, { maxPixels: ctx.maxPixels }));
      if (result.added === 0 && result.alreadyKnown === 0) throw noUsablePhoto(photos.length, result.skipped.map((s) => `${s.file}: ${s.reason}`).join('; '));
      return reply.code(201).send({ name, ...result, ...(await people()) });
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
      const unknown = () => new HttpError('FT_ERR_UNKNOWN_PERSON', `no person named "${name}" in this ${ctx.gallery ? 'gallery' : 'model'}; GET /v1/people lists them`);
      if (ctx.gallery) {
        // one transaction in the database: every server on the gallery stops naming them at once
        if (!(await ctx.gallery.store.forget(name))) throw unknown();
        return { removed: name, ...(await people()) };
      }
      await ctx.host.modify(async (modelDir) => {
        // checked under the lock: a concurrent forget of the same person must see the updated labels
        if (!ctx.host.current.labels.includes(name)) throw unknown();
        await forgetPerson(modelDir, name);
      });
      return { removed: name, ...(await people()) };
    },
  );
}
