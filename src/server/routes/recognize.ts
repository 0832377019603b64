import type { FastifyInstance } from 'fastify';
import { recognizeWithGallery } from '../../api/gallery.js';
import { headerDimensions } from '../../image/dimensions.js';
import type { FaceResult } from '../../recognize/recognizer.js';
import type { ServerContext } from '../context.js';
import { checkPixelLimit } from '../limits.js';
import { errorResponses, RECOGNIZE_QUERY, RECOGNIZE_RESPONSE, type RecognizeQuery, UPLOAD_BODY_DOC } from '../schemas.js';
import { readOnePhoto } from '../uploads.js';

function largestFirst(faces: FaceResult[], max: number): FaceResult[] {
  return [...faces].sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height).slice(0, max);
}

const ms = (from: number, to: number) => Math.round((to - from) * 10) / 10;

export function registerRecognizeRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post<{ Querystring: RecognizeQuery }>(
    '/v1/recognize',
    {
      schema: {
        summary: 'Find and name the faces in one photo',
        tags: ['recognition'],
        querystring: RECOGNIZE_QUERY,
        response: { 200: RECOGNIZE_RESPONSE, ...errorResponses(400, 413, 415, 503) },
      },
      config: { swaggerTransform: ({ schema, url }: { schema: object; url: string }) => ({ schema: { ...schema, body: UPLOAD_BODY_DOC.image }, url }) },
    },
    async (request) => {
      const started = performance.now();
      const photo = await readOnePhoto(request);
      return ctx.gate.run(async () => {
        const gallery = ctx.gallery;
        if (gallery) {
          await checkPixelLimit(photo.bytes, ctx.maxPixels, photo.file);
          // decoding, detection and the embedder run in a worker thread, the nearest-template search in the database
          const uploaded = performance.now();
          const faces = await recognizeWithGallery(gallery.store, gallery.faces, photo.bytes, photo.file, { topK: request.query.top_k, threshold: request.query.threshold });
          const done = performance.now();
          const image = (await headerDimensions(photo.bytes, { oriented: true })) ?? { width: 0, height: 0 };
          return {
            faces: largestFirst(faces, request.query.max_faces),
            image,
            timings: { decodeMs: ms(started, uploaded), recognizeMs: ms(uploaded, done), totalMs: ms(started, done) },
          };
        }
        // the pixel limit, decoding and recognition happen in a worker thread; decodeMs also counts the upload and the wait for a worker
        const { faces, image, recognizeMs } = await ctx.host.recognize({ bytes: photo.bytes, label: photo.file, topK: request.query.top_k, threshold: request.query.threshold });
        const totalMs = ms(started, performance.now());
        return {
          faces: largestFirst(faces, request.query.max_faces),
          image,
          timings: { decodeMs: Math.max(0, ms(recognizeMs, totalMs)), recognizeMs, totalMs },
        };
      });
    },
  );
}
