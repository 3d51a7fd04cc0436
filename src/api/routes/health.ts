/** Unauthenticated operational routes: liveness, readiness, Prometheus metrics. */
import type { FastifyPluginAsync } from 'fastify';
import { healthSchema, readySchema } from '../schemas/health.js';
import type { RouteContext } from './context.js';

export function healthRoutes(ctx: RouteContext): FastifyPluginAsync {
  const { deps } = ctx;
  return async (app) => {
    app.get('/healthz', { schema: { summary: 'Alive', response: { 200: healthSchema } } }, async () => ({ status: 'ok' }));

    app.get(
      '/readyz',
      { schema: { summary: 'Capture or replay running and the database writable', response: { 200: readySchema, 503: readySchema } } },
      async (_request, reply) => {
        const capture = deps.captureRunning();
        let dbWritable = false;
        try {
          dbWritable = deps.store.writable();
        } catch {
          dbWritable = false;
        }
        const ready = capture && dbWritable;
        reply.code(ready ? 200 : 503);
        return { ready, capture, db_writable: dbWritable };
      },
    );

    // Metrics carry only bounded labels (no tenant data), so Prometheus scrapes without a token.
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      const text = await deps.registry.metrics();
      reply.header('content-type', deps.registry.contentType);
      return text;
    });
  };
}
