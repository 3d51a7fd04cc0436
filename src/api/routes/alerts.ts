/**
 * Alerts for SIEM polling. `GET /v1/alerts` returns alert changes in change-sequence order
 * after the cursor's position; `next_cursor` is the position after the last item returned
 * (or the same position when nothing new), so a poller that keeps following it sees every
 * change exactly once. One extra row is fetched to answer `has_more` without a second query.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { AlertStatus, Heuristic, Severity } from '../../records.js';
import { ApiError } from '../errors.js';
import { toOcsfFinding } from '../ocsf.js';
import { presentAlert } from '../present.js';
import {
  alertPageNativeSchema,
  alertPageOcsfSchema,
  alertPageSchema,
  alertSchema,
  alertsQuery,
  statusBody,
} from '../schemas/alerts.js';
import { DEFAULT_PAGE, idParams, withErrors } from '../schemas/common.js';
import type { RouteContext } from './context.js';

interface AlertsQuery {
  cursor?: string;
  limit?: number;
  severity?: Severity;
  heuristic?: Heuristic;
  format?: 'native' | 'ocsf';
}

export function alertRoutes(ctx: RouteContext): FastifyPluginAsync {
  const { deps, cursors } = ctx;
  return async (app) => {
    app.get<{ Querystring: AlertsQuery }>(
      '/alerts',
      {
        schema: {
          summary: 'Alert changes after a cursor, in change order (SIEM polling)',
          querystring: alertsQuery,
          response: withErrors({ 200: alertPageSchema }),
        },
      },
      async (request, reply) => {
        const q = request.query;
        const tenant = request.tenant;
        let afterSeq = 0;
        if (q.cursor !== undefined && q.cursor !== '') {
          const d = cursors.decode('alerts', tenant, q.cursor);
          if (!d.ok) throw new ApiError('LLMTAP_ERR_BAD_CURSOR', d.reason);
          afterSeq = d.seq;
        }
        const limit = q.limit ?? DEFAULT_PAGE;
        const rows = await deps.store.listAlertChanges(tenant, {
          afterSeq,
          limit: limit + 1,
          ...(q.severity !== undefined ? { severity: q.severity } : {}),
          ...(q.heuristic !== undefined ? { heuristic: q.heuristic } : {}),
        });
        const hasMore = rows.length > limit;
        const page = hasMore ? rows.slice(0, limit) : rows;
        let last = afterSeq;
        for (const a of page) {
          // A row without seq, or out of order, would break exactly-once delivery: refuse it.
          if (a.seq === undefined || a.seq <= last) throw new Error('store returned alert changes out of seq order');
          last = a.seq;
        }
        const format = q.format ?? 'native';
        const items =
          format === 'ocsf' ? page.map((a) => toOcsfFinding(a, { version: ctx.version })) : page.map(presentAlert);
        const schema = format === 'ocsf' ? alertPageOcsfSchema : alertPageNativeSchema;
        // A custom serializer leaves the content type unset: say what it is.
        reply.serializer(reply.compileSerializationSchema(schema, '200')).type('application/json; charset=utf-8');
        return { format, items, next_cursor: cursors.encode('alerts', tenant, last), has_more: hasMore };
      },
    );

    app.get<{ Params: { id: string } }>(
      '/alerts/:id',
      { schema: { summary: 'One alert', params: idParams, response: withErrors({ 200: alertSchema }) } },
      async (request) => {
        const a = await deps.store.getAlert(request.tenant, request.params.id);
        if (a === undefined || a.tenant !== request.tenant) throw new ApiError('LLMTAP_ERR_NOT_FOUND');
        return presentAlert(a);
      },
    );

    app.post<{ Params: { id: string }; Body: { status: AlertStatus } }>(
      '/alerts/:id/status',
      {
        schema: {
          summary: 'Set an alert status (open, acknowledged, closed); advances the change sequence',
          params: idParams,
          body: statusBody,
          response: withErrors({ 200: alertSchema }),
        },
      },
      async (request) => {
        if (!deps.store.writable()) throw new ApiError('LLMTAP_ERR_UNAVAILABLE', 'store is read-only');
        const a = await deps.store.setAlertStatus(request.tenant, request.params.id, request.body.status);
        if (a === undefined || a.tenant !== request.tenant) throw new ApiError('LLMTAP_ERR_NOT_FOUND');
        return presentAlert(a);
      },
    );
  };
}
