/**
 * The usage summary (the shadow-AI playbook's table): a tenant's AI connections in a time
 * window, grouped by any of device, source address, provider and destination, with
 * connections, first and last seen, bytes sent and received and distinct destinations. Read
 * straight from the observations table (one row per connection, upserted by obsId, so nothing
 * is counted twice); no user identity exists to group by.
 *
 * Dimensions: `device` is the EDR device id, or the source address when no EDR record named
 * the device; `source` the client address; `provider` the classifier's provider; `destination`
 * the host name (SNI, DNS or EDR), or the server address when none was known.
 */
import type { Database, Statement } from 'better-sqlite3';
import { USAGE_DIMENSIONS, type UsageDimension, type UsageQuery, type UsageRow } from './types.js';

export type { UsageDimension, UsageQuery, UsageRow } from './types.js';

/** The SQL expression of each dimension (the same text for SQLite and PostgreSQL). */
export const DIM_SQL: Record<UsageDimension, string> = {
  device: 'COALESCE(device_id, client_addr)',
  source: 'client_addr',
  provider: 'provider',
  destination: 'COALESCE(host, server_addr)',
};

/** Throws on a dimension grouped twice or unknown (both stores check queries with this). */
export function checkUsageQuery(q: UsageQuery): void {
  if (new Set(q.group).size !== q.group.length) throw new Error('usage: a dimension is grouped twice');
  for (const d of q.group) if (!(USAGE_DIMENSIONS as readonly string[]).includes(d)) throw new Error(`usage: unknown dimension ${String(d)}`);
}

interface Raw {
  g0?: string;
  g1?: string;
  g2?: string;
  g3?: string;
  connections: number;
  first_us: number;
  last_us: number;
  bytes_out: number;
  bytes_in: number;
  destinations: number;
}

export class UsageTable {
  /** One prepared statement per group combination (at most 64), built on first use. */
  private readonly stmts = new Map<string, Statement>();
  private readonly span: Statement;
  private readonly tenantList: Statement;

  constructor(private readonly db: Database) {
    this.span = db.prepare('SELECT MIN(ts_us) AS first_us, MAX(ts_us) AS last_us FROM observations WHERE tenant = ?');
    this.tenantList = db.prepare('SELECT DISTINCT tenant FROM observations ORDER BY tenant');
  }

  /** Tenants that have stored observations (reports over a whole database). */
  tenants(): string[] {
    return (this.tenantList.all() as { tenant: string }[]).map((r) => r.tenant);
  }

  private stmt(group: readonly UsageDimension[]): Statement {
    const k = group.join(',');
    let s = this.stmts.get(k);
    if (s === undefined) {
      // Only the fixed expressions of DIM_SQL reach the SQL text; values are bound.
      const cols = group.map((d, i) => `${DIM_SQL[d]} AS g${i}`);
      const by = group.map((_, i) => `g${i}`);
      s = this.db.prepare(
        `SELECT ${[...cols, 'COUNT(*) AS connections', 'MIN(ts_us) AS first_us', 'MAX(last_ts_us) AS last_us',
          'SUM(bytes_out) AS bytes_out', 'SUM(bytes_in) AS bytes_in', `COUNT(DISTINCT ${DIM_SQL.destination}) AS destinations`].join(', ')}
         FROM observations WHERE tenant = ? AND ts_us >= ? AND ts_us < ?
         ${by.length > 0 ? `GROUP BY ${by.join(', ')}` : ''}
         ORDER BY connections DESC, bytes_out DESC${by.length > 0 ? `, ${by.join(', ')}` : ''} LIMIT ?`,
      );
      this.stmts.set(k, s);
    }
    return s;
  }

  usage(tenant: string, q: UsageQuery): UsageRow[] {
    checkUsageQuery(q);
    const rows = this.stmt(q.group).all(tenant, q.sinceUs, q.untilUs, Math.max(1, Math.min(q.limit, 100_000))) as Raw[];
    const out: UsageRow[] = [];
    for (const r of rows) {
      if (r.connections === 0) continue; // the ungrouped query answers one all-NULL row when empty
      const key: UsageRow['key'] = {};
      q.group.forEach((d, i) => {
        const v = r[`g${i}` as 'g0'];
        if (v !== undefined) key[d] = v;
      });
      out.push({
        key,
        connections: r.connections,
        firstSeenUs: r.first_us,
        lastSeenUs: r.last_us,
        bytesSent: r.bytes_out,
        bytesReceived: r.bytes_in,
        distinctDestinations: r.destinations,
      });
    }
    return out;
  }

  /** Start times of the tenant's oldest and newest stored connection, or undefined when none. */
  observationSpan(tenant: string): { firstUs: number; lastUs: number } | undefined {
    const r = this.span.get(tenant) as { first_us: number | null; last_us: number | null };
    return r.first_us === null || r.last_us === null ? undefined : { firstUs: r.first_us, lastUs: r.last_us };
  }
}
