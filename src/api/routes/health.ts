/** Operational routes outside /v1: liveness, readiness, Prometheus metrics. */
import type { FastifyPluginAsync } from 'fastify';
import type { Authenticator } from '../auth.js';
import { ApiError } from '../errors.js';
import { healthSchema, readySchema } from '../schemas/health.js';
import type { RouteContext } from './context.js';

export function healthRoutes(ctx: RouteContext, auth: Authenticator): FastifyPluginAsync {
  const { deps } = ctx;
  return async (app) => {
    app.get('/healthz', { schema: { summary: 'Alive', response: { 200: healthSchema } } }, async () => ({ status: 'ok' }));

    app.get(
      '/readyz',
      { schema: { summary: 'Capture or replay running and the database writable', response: { 200: readySchema, 503: readySchema } } },
      async (_request, reply) => {
        const capture = deps.captureRunning();
        let dbWritable = false;
        let fault: { db_fault?: string; db_fault_detail?: string; db_queued?: number } = {};
        try {
          const st = deps.store.status?.();
          dbWritable = st?.writable ?? deps.store.writable();
          if (st !== undefined && !st.writable && st.reason !== undefined) {
            fault = { db_fault: st.reason, db_queued: st.queued.alert + st.queued.observation + st.queued.other };
            if (st.message !== undefined) fault.db_fault_detail = st.message;
          }
        } catch {
          dbWritable = false;
        }
        const ready = capture && dbWritable;
        reply.code(ready ? 200 : 503);
        let overload: { overload?: { level: number; state: string; new_flows_per_s: number; lag_s: number; undissected_flows: number; unanalyzed_flows: number } } = {};
        try {
          const o = deps.overload?.();
          if (o !== undefined) {
            overload = { overload: { level: o.level, state: o.state, new_flows_per_s: o.newFlowsPerS, lag_s: o.lagS, undissected_flows: o.undissected, unanalyzed_flows: o.unanalyzed } };
          }
        } catch {
          // readiness never fails on its detail
        }
        return { ready, capture, db_writable: dbWritable, ...fault, ...overload };
      },
    );

    // Without a token: operational metrics only (capture health, parse errors, EDR ingest, API
    // requests). The AI-traffic and alert series sum every tenant's activity, so they need an
    // operator token; a tenant's token is refused here (its numbers are in /v1/usage, /v1/alerts).
    app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
      let registry = deps.publicRegistry;
      if (request.headers.authorization !== undefined) {
        const p = auth.principal(request.headers.authorization);
        if (p.kind !== 'operator') throw new ApiError('LLMTAP_ERR_FORBIDDEN', 'the full metrics need an operator token');
        registry = deps.registry;
      }
      const text = await registry.metrics();
      reply.header('content-type', registry.contentType);
      return text;
    });
  };
}
