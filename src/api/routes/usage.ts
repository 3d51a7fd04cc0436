/**
 * `GET /v1/usage`: the shadow-AI playbook's summary for the caller's tenant — AI connections
 * in a window, grouped by device or source address, provider and destination, with
 * connections, first and last seen, bytes sent and received and distinct destinations. No
 * user identity: none is stored.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { UsageDimension, UsageRow } from '../deps.js';
import { ApiError } from '../errors.js';
import { withErrors } from '../schemas/common.js';
import { usageQuery, usageSchema } from '../schemas/usage.js';
import type { RouteContext } from './context.js';

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Longest window (observations are kept `store.retention_hours` anyway). */
export const MAX_WINDOW_MS = 90 * UNIT_MS.d;

/** `15m`, `24h`, `7d` → milliseconds; undefined when malformed or over 90 days. */
export function parseWindowMs(text: string): number | undefined {
  const m = /^([1-9][0-9]{0,4})([mhd])$/.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return ms <= MAX_WINDOW_MS ? ms : undefined;
}

/** `device,provider` → the dimensions, or a reason (the schema already checked the names). */
export function parseGroup(text: string): UsageDimension[] | string {
  const parts = text === '' ? [] : (text.split(',') as UsageDimension[]);
  if (new Set(parts).size !== parts.length) return 'group: a key appears twice';
  return parts;
}

const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString();

/** A usage row as the API and `llmtap report usage --format json` show it. */
export function presentUsageRow(r: UsageRow): Record<string, unknown> {
  return {
    ...r.key,
    connections: r.connections,
    first_seen: iso(r.firstSeenUs),
    last_seen: iso(r.lastSeenUs),
    bytes_sent: r.bytesSent,
    bytes_received: r.bytesReceived,
    distinct_destinations: r.distinctDestinations,
  };
}

interface UsageQs {
  window: string;
  until?: string;
  group: string;
  limit: number;
}

export function usageRoutes(ctx: RouteContext): FastifyPluginAsync {
  const { store } = ctx.deps;
  return async (app) => {
    app.get<{ Querystring: UsageQs }>(
      '/usage',
      {
        schema: {
          summary: 'AI usage summary of the tenant over a window, grouped by device/source, provider, destination',
          querystring: usageQuery,
          response: withErrors({ 200: usageSchema }),
        },
      },
      async (request) => {
        const q = request.query;
        const windowMs = parseWindowMs(q.window);
        if (windowMs === undefined) throw new ApiError('LLMTAP_ERR_BAD_QUERY', 'window: at most 90d');
        const untilMs = q.until === undefined ? Date.now() : Date.parse(q.until);
        if (!Number.isFinite(untilMs)) throw new ApiError('LLMTAP_ERR_BAD_QUERY', 'until: not a date-time');
        const group = parseGroup(q.group);
        if (typeof group === 'string') throw new ApiError('LLMTAP_ERR_BAD_QUERY', group);
        const sinceUs = (untilMs - windowMs) * 1000;
        const untilUs = untilMs * 1000;
        const rows = await store.usage(request.tenant, { sinceUs, untilUs, group, limit: q.limit + 1 });
        const truncated = rows.length > q.limit;
        const total = (await store.usage(request.tenant, { sinceUs, untilUs, group: [], limit: 1 }))[0];
        return {
          window: { from: new Date(untilMs - windowMs).toISOString(), until: new Date(untilMs).toISOString(), length: q.window },
          group,
          items: (truncated ? rows.slice(0, q.limit) : rows).map(presentUsageRow),
          ...(total !== undefined ? { total: presentUsageRow(total) } : {}),
          truncated,
        };
      },
    );
  };
}
