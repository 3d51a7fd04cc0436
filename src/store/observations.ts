/**
 * AI observations (only the columns of the schema), upserted by obsId, plus the per-day H1
 * counters. Every insert and update takes the tenant's next sequence number (`obs_seq`, a
 * counter per tenant that never goes back): an update deletes and re-inserts the row with a
 * fresh number, so a poller paging by seq sees the updated row again, once, and one tenant's
 * numbers say nothing about another tenant's connections.
 */
import type { ObservationMarks } from '../detect/sink.js';
import type { Database, Statement } from 'better-sqlite3';
import type { AiCategory, HostSource, Observation } from '../records.js';
import type { ObservationRow } from './types.js';
import { prepareNextTenantSeq } from './schema.js';

export interface ObservationQuery {
  afterSeq: number;
  limit: number;
  provider?: string;
  category?: string;
  deviceId?: string;
}

export type { ObservationMarks };

export interface Row {
  seq: number;
  tenant_seq: number;
  obs_id: string;
  tenant: string;
  kind: 'flow' | 'edr-only';
  ts_us: number;
  last_ts_us: number;
  device_id: string | null;
  device_name: string | null;
  client_addr: string;
  server_addr: string;
  server_port: number;
  proto: number;
  host: string | null;
  host_source: HostSource;
  process_name: string | null;
  sha256: string | null;
  sha1: string | null;
  parent_name: string | null;
  lineage_hash: string | null;
  category: AiCategory;
  provider: string;
  rule_id: string;
  sanctioned: number;
  bytes_out: number;
  bytes_in: number;
  flow_id: number | null;
  community_id: string | null;
  payload_entropy: number | null;
  h1: number;
}

const COLS = [
  'obs_id', 'tenant', 'kind', 'ts_us', 'last_ts_us', 'device_id', 'device_name', 'client_addr',
  'server_addr', 'server_port', 'proto', 'host', 'host_source', 'process_name', 'sha256', 'sha1',
  'parent_name', 'lineage_hash', 'category', 'provider', 'rule_id', 'sanctioned', 'bytes_out',
  'bytes_in', 'flow_id', 'community_id', 'payload_entropy', 'h1',
];

/** A stored row as the API serves it (the PostgreSQL store selects the same columns, booleans as 0/1). */
export function toRow(r: Row): ObservationRow {
  const o: ObservationRow = {
    seq: r.tenant_seq,
    obsId: r.obs_id,
    tenant: r.tenant,
    kind: r.kind,
    tsUs: r.ts_us,
    lastTsUs: r.last_ts_us,
    clientAddr: r.client_addr,
    serverAddr: r.server_addr,
    serverPort: r.server_port,
    proto: r.proto,
    hostSource: r.host_source,
    category: r.category,
    provider: r.provider,
    ruleId: r.rule_id,
    sanctioned: r.sanctioned === 1,
    bytesOut: r.bytes_out,
    bytesIn: r.bytes_in,
    h1: r.h1 === 1,
  };
  if (r.device_id !== null) o.deviceId = r.device_id;
  if (r.device_name !== null) o.deviceName = r.device_name;
  if (r.host !== null) o.host = r.host;
  if (r.process_name !== null) o.processName = r.process_name;
  if (r.sha256 !== null) o.sha256 = r.sha256;
  if (r.sha1 !== null) o.sha1 = r.sha1;
  if (r.parent_name !== null) o.parentName = r.parent_name;
  if (r.lineage_hash !== null) o.lineageHash = r.lineage_hash;
  if (r.flow_id !== null) o.flowId = r.flow_id;
  if (r.community_id !== null) o.communityId = r.community_id;
  if (r.payload_entropy !== null) o.payloadEntropy = r.payload_entropy;
  return o;
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
      `INSERT INTO observations (${[...COLS, 'tenant_seq'].join(', ')}) VALUES (${[...COLS, 'tenant_seq'].map((c) => '@' + c).join(', ')})`,
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
    const c = o.client;
    const f = o.flow;
    this.ins.run({
      tenant_seq: (this.nextSeq.get(o.tenant) as { last: number }).last,
      obs_id: o.obsId,
      tenant: o.tenant,
      kind: o.kind,
      ts_us: o.tsUs,
      last_ts_us: o.lastTsUs,
      device_id: c?.deviceId ?? null,
      device_name: c?.deviceName ?? null,
      client_addr: o.clientAddr,
      server_addr: o.serverAddr,
      server_port: o.serverPort,
      proto: o.proto,
      host: o.host ?? null,
      host_source: o.hostSource,
      process_name: c?.processName ?? null,
      sha256: c?.sha256 ?? null,
      sha1: c?.sha1 ?? null,
      parent_name: c?.parentName ?? null,
      lineage_hash: c?.lineageHash ?? null,
      category: v.category,
      provider: v.provider,
      rule_id: v.ruleId,
      sanctioned: v.sanctioned ? 1 : 0,
      bytes_out: Math.round(o.bytesOut),
      bytes_in: Math.round(o.bytesIn),
      flow_id: f?.flowId ?? null,
      community_id: f?.communityId ?? null,
      // present only when the flow's tenant opted in (decided once, src/pipeline.ts)
      payload_entropy: f?.payloadEntropy ?? null,
      h1,
    });
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
