import type { FastifyInstance } from 'fastify';
import { browserSupport } from '../browser-model.js';
import type { ServerContext } from '../context.js';
import { HEALTH_RESPONSE, MODEL_RESPONSE } from '../schemas.js';

export function registerInfoRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/healthz', { schema: { summary: 'Liveness and load', tags: ['service'], response: { 200: HEALTH_RESPONSE } } }, async () => ({
    status: 'ok' as const,
    people: ctx.gallery ? (await ctx.gallery.store.count()).people : ctx.host.current.labels.length,
    inFlight: ctx.gate.inFlight,
    capacity: ctx.gate.capacity,
  }));

  app.get('/v1/model', { schema: { summary: 'What the served model knows and expects', tags: ['service'], response: { 200: MODEL_RESPONSE } } }, async () => {
    const { manifest, labels } = ctx.host.current;
    return {
      labels,
      base: manifest.base,
      input: manifest.input,
      threshold: manifest.threshold,
      versions: manifest.versions,
      createdAt: manifest.createdAt,
      browser: await browserSupport(ctx),
    };
  });
}
