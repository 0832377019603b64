import type { FastifyInstance } from 'fastify';
import type { ModelManifest } from '../../model-dir/manifest.js';
import type { ServerContext } from '../context.js';
import { HEALTH_RESPONSE, MODEL_RESPONSE } from '../schemas.js';

/** The page runs the model itself only when the model is the whole pipeline: a whole-image classifier. */
function browserSupport(manifest: ModelManifest): { supported: boolean; modelUrl?: string; reason?: string } {
  if (manifest.input.crop === 'whole-image') return { supported: true, modelUrl: '/model/model.json' };
  return { supported: false, reason: 'this model needs face detection and alignment, which run on the server only' };
}

export function registerInfoRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/healthz', { schema: { summary: 'Liveness and load', tags: ['service'], response: { 200: HEALTH_RESPONSE } } }, async () => ({
    status: 'ok' as const,
    people: ctx.host.current.labels.length,
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
      browser: browserSupport(manifest),
    };
  });
}
