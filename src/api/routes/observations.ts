/** `GET /v1/observations`: recent AI flows of the tenant, paged by change sequence like alerts. */
import type { FastifyPluginAsync } from 'fastify';
import type { AiCategory } from '../../records.js';
import { ApiError } from '../errors.js';
import { presentObservation } from '../present.js';
import { DEFAULT_PAGE, withErrors } from '../schemas/common.js';
import { observationPageSchema, observationsQuery } from '../schemas/observations.js';
import type { RouteContext } from './context.js';

interface ObservationsQuery {
  cursor?: string;
  limit?: number;
  provider?: string;
  category?: AiCategory;
  device?: string;
}

export function observationRoutes(ctx: RouteContext): FastifyPluginAsync {
  const { deps, cursors } = ctx;
  return async (app) => {
    app.get<{ Querystring: ObservationsQuery }>(
      '/observations',
      {
        schema: {
          summary: 'Recent AI observations (flows with host, category, provider, device, process, bytes)',
          querystring: observationsQuery,
          response: withErrors({ 200: observationPageSchema }),
        },
      },
      async (request) => {
        const q = request.query;
        const tenant = request.tenant;
        let afterSeq = 0;
        if (q.cursor !== undefined && q.cursor !== '') {
          const d = cursors.decode('observations', tenant, q.cursor);
          if (!d.ok) throw new ApiError('LLMTAP_ERR_BAD_CURSOR', d.reason);
          afterSeq = d.seq;
        }
        const limit = q.limit ?? DEFAULT_PAGE;
        const rows = await deps.store.listObservations(tenant, {
          afterSeq,
          limit: limit + 1,
          ...(q.provider !== undefined ? { provider: q.provider } : {}),
          ...(q.category !== undefined ? { category: q.category } : {}),
          ...(q.device !== undefined ? { deviceId: q.device } : {}),
        });
        const hasMore = rows.length > limit;
        const page = hasMore ? rows.slice(0, limit) : rows;
        let last = afterSeq;
        for (const r of page) {
          if (r.seq <= last) throw new Error('store returned observations out of seq order');
          last = r.seq;
        }
        return {
          items: page.map(presentObservation),
          next_cursor: cursors.encode('observations', tenant, last),
          has_more: hasMore,
        };
      },
    );
  };
}
