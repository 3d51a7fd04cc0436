/**
 * AI observations (only the columns of the schema), upserted by obsId, plus the per-day H1
 * counters. Every insert and update takes the tenant's next sequence number (`obs_seq`, a
 * counter per tenant that never goes back): an update deletes and re-inserts the row with a
 * fresh number, so a poller paging by seq sees the updated row again, once, and one tenant's
 * numbers say nothing about another tenant's connections.
 */
import type { ObservationMarks } from '../detect/sink.js';
import type { Database, Statement } from 'better-sqlite3';
import type { Observation, Verdict } from '../records.js';
import { OBSERVATION_FIELDS, type ObservationRow } from './types.js';
import { prepareNextTenantSeq } from './schema.js';

export interface ObservationQuery {
  afterSeq: number;
  limit: number;
  provider?: string;
  category?: string;
  deviceId?: string;
}

export type { ObservationMarks };

/** A stored row as the database returns it: column → value (booleans as 0/1, absent as null). */
export type Row = Record<string, string | number | null>;

/** Every column of the observations table but SQLite's own `seq`, in declaration order. */
export const OBSERVATION_COLUMNS: readonly string[] = OBSERVATION_FIELDS.map((f) => f.column);

/**
 * An observation's column values (every column but `tenant_seq` and `h1`, which the store
 * assigns): absent values are null, booleans stay booleans (SQLite binds them as 0/1, see
 * `sqliteValues`).
 */
export function observationValues(o: Observation, v: Verdict): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  for (const f of OBSERVATION_FIELDS) if ('of' in f) out[f.column] = f.of(o, v) ?? null;
  return out;
}

/** `observationValues` as SQLite binds them (booleans as 0/1). */
function sqliteValues(o: Observation, v: Verdict): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = {};
  for (const [k, x] of Object.entries(observationValues(o, v))) out[k] = typeof x === 'boolean' ? (x ? 1 : 0) : x;
  return out;
}

/** A stored row as the API serves it (the PostgreSQL store selects the same columns, booleans as 0/1). */
export function toRow(r: Row): ObservationRow {
  const o: Record<string, unknown> = {};
  for (const f of OBSERVATION_FIELDS) {
    const x = r[f.column];
    if (x === null || x === undefined) continue;
    o[f.field] = f.type === 'boolean' ? x === 1 : x;
  }
  return o as unknown as ObservationRow;
}

export function utcDay(tsUs: number): string {
  return new Date(Math.floor(tsUs / 1000)).toISOString().slice(0, 10);
}

export class ObservationTable {
  private readonly prev: Statement;
  private readonly del: Statement;
  private readonly ins: Statement;
  private readonly nextSeq: Statement;
  private readonly daily: Statement;
  private readonly listStmt: Statement;
  private readonly rate: Statement;

  constructor(db: Database) {
    this.prev = db.prepare('SELECT h1, ts_us FROM observations WHERE obs_id = ?');
    this.del = db.prepare('DELETE FROM observations WHERE obs_id = ?');
    this.ins = db.prepare(
      `INSERT INTO observations (${OBSERVATION_COLUMNS.join(', ')}) VALUES (${OBSERVATION_COLUMNS.map((c) => '@' + c).join(', ')})`,
    );
    this.nextSeq = prepareNextTenantSeq(db, 'obs_seq', 'obs_seq_floor');
    this.daily = db.prepare(
      `INSERT INTO h1_daily (tenant, day, h1, observations) VALUES (?, ?, ?, ?)
       ON CONFLICT(tenant, day) DO UPDATE SET h1 = h1 + excluded.h1, observations = observations + excluded.observations`,
    );
    // Optional filters as "? IS NULL OR col = ?" keep one prepared statement for all combinations.
    this.listStmt = db.prepare(
      `SELECT * FROM observations WHERE tenant = @tenant AND tenant_seq > @after
         AND (@provider IS NULL OR provider = @provider)
         AND (@category IS NULL OR category = @category)
         AND (@device IS NULL OR device_id = @device)
       ORDER BY tenant_seq LIMIT @limit`,
    );
    this.rate = db.prepare('SELECT day, h1, observations FROM h1_daily WHERE tenant = ? ORDER BY day');
  }

  /** Upsert by obsId; only observations with a verdict are stored (others are not AI). */
  upsert(o: Observation, marks: ObservationMarks = {}): boolean {
    const v = o.verdict;
    if (!v) return false;
    const before = this.prev.get(o.obsId) as { h1: number; ts_us: number } | undefined;
    const h1 = (before?.h1 === 1 || marks.h1 === true) ? 1 : 0;
    if (before) this.del.run(o.obsId);
    this.ins.run({ ...sqliteValues(o, v), tenant_seq: (this.nextSeq.get(o.tenant) as { last: number }).last, h1 });
    if (!before) this.daily.run(o.tenant, utcDay(o.tsUs), h1, 1);
    else if (before.h1 === 0 && h1 === 1) this.daily.run(o.tenant, utcDay(before.ts_us), 1, 0);
    return true;
  }

  list(tenant: string, q: ObservationQuery): ObservationRow[] {
    const rows = this.listStmt.all({
      tenant,
      after: q.afterSeq,
      provider: q.provider ?? null,
      category: q.category ?? null,
      device: q.deviceId ?? null,
      limit: Math.max(0, Math.min(q.limit, 10_000)),
    }) as Row[];
    return rows.map(toRow);
  }

  h1RatePerDay(tenant: string): { day: string; h1: number; observations: number }[] {
    return this.rate.all(tenant) as { day: string; h1: number; observations: number }[];
  }
}
