/**
 * Alerts and their append-only change log. Every create or update of an alert appends one row
 * to `alert_changes` numbered by its tenant's own counter (`alert_seq`): that number is the
 * alert's new `seq`. The counter lives in its own row, not in the change rows, so a seq is never
 * reused even after retention deletes the newest changes, and a SIEM cursor (`afterSeq`) never
 * skips or repeats a change. Seqs are per tenant: consecutive changes of one tenant get
 * consecutive numbers whatever other tenants do, so gaps reveal nothing across tenants.
 */
import type { Database, Statement } from 'better-sqlite3';
import { alertDedupKey } from '../detect/alert-key.js';
import type { Alert, AlertStatus, Heuristic, Severity } from '../records.js';
import { prepareNextTenantSeq } from './schema.js';

export interface AlertChangeQuery {
  afterSeq: number;
  limit: number;
  severity?: Severity;
  heuristic?: Heuristic;
}

interface AlertRow {
  seq: number;
  body: string;
}

interface ChangeRow extends AlertRow {
  /** 1 when this is the alert's first change (its lowest seq: retention deletes an alert's changes together). */
  first: number;
}

/** The stored JSON of an alert: every field but its change seq and kind (the change log numbers them). */
export function bodyOf(a: Alert): string {
  const { seq: _seq, change: _change, ...rest } = a;
  return JSON.stringify(rest);
}

function parse(row: AlertRow): Alert {
  const a = JSON.parse(row.body) as Alert;
  a.seq = row.seq;
  return a;
}

function parseChange(row: ChangeRow): Alert {
  const a = parse(row);
  a.change = row.first === 1 ? 'create' : 'update';
  return a;
}

/** The binary identity an alert carries (SHA-256, else SHA-1): H7 links related alerts by it. */
export function alertBinHash(a: Alert): string | undefined {
  return a.sha256 ?? a.sha1 ?? (typeof a.evidence.detail['sha1'] === 'string' ? a.evidence.detail['sha1'] : undefined);
}

/** The dedup key of an alert written without one (H7 keys on `alertBinHash`). */
export function alertKeyOf(a: Alert, binHash: string | undefined): string {
  return alertDedupKey(binHash !== undefined ? { ...a, binHash } : a);
}

export class AlertTable {
  private readonly insChange: Statement;
  private readonly nextSeq: Statement;
  private readonly upsert: Statement;
  private readonly byId: Statement;
  private readonly byKey: Statement;
  private readonly byHash: Statement;
  private readonly keyOf: Statement;
  private readonly lastSeqOf: Statement;
  private readonly seqFloor: Statement;
  private readonly changesAll: Statement;
  private readonly changesSev: Statement;
  private readonly changesHeur: Statement;
  private readonly changesBoth: Statement;

  constructor(db: Database) {
    this.nextSeq = prepareNextTenantSeq(db, 'alert_seq', 'alert_seq_floor');
    this.insChange = db.prepare(
      'INSERT INTO alert_changes (tenant, tenant_seq, alert_id, heuristic, severity, alert_json) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.upsert = db.prepare(
      `INSERT INTO alerts (id, tenant, heuristic, severity, status, dedup_key, bin_hash, first_seen_us, last_seen_us, seq, alert_json)
       VALUES (@id, @tenant, @heuristic, @severity, @status, @dedupKey, @binHash, @first, @last, @seq, @json)
       ON CONFLICT(id) DO UPDATE SET severity = excluded.severity, status = excluded.status,
         bin_hash = excluded.bin_hash, first_seen_us = excluded.first_seen_us,
         last_seen_us = excluded.last_seen_us, seq = excluded.seq, alert_json = excluded.alert_json`,
    );
    this.lastSeqOf = db.prepare('SELECT last FROM alert_seq WHERE tenant = ?');
    this.seqFloor = db.prepare("SELECT value FROM store_meta WHERE key = 'alert_seq_floor'");
    this.byId = db.prepare('SELECT seq, alert_json AS body FROM alerts WHERE tenant = ? AND id = ?');
    this.keyOf = db.prepare('SELECT tenant, dedup_key AS k FROM alerts WHERE id = ?');
    this.byKey = db.prepare(
      "SELECT seq, alert_json AS body FROM alerts WHERE tenant = ? AND dedup_key = ? AND status <> 'closed' ORDER BY first_seen_us DESC LIMIT 1",
    );
    this.byHash = db.prepare(
      'SELECT id FROM alerts WHERE tenant = ? AND bin_hash = ? AND heuristic = ? ORDER BY first_seen_us LIMIT ?',
    );
    const base =
      'SELECT c.tenant_seq AS seq, c.alert_json AS body,' +
      ' (c.seq = (SELECT MIN(p.seq) FROM alert_changes p WHERE p.alert_id = c.alert_id)) AS first' +
      ' FROM alert_changes c WHERE c.tenant = ? AND c.tenant_seq > ?';
    this.changesAll = db.prepare(`${base} ORDER BY c.tenant_seq LIMIT ?`);
    this.changesSev = db.prepare(`${base} AND c.severity = ? ORDER BY c.tenant_seq LIMIT ?`);
    this.changesHeur = db.prepare(`${base} AND c.heuristic = ? ORDER BY c.tenant_seq LIMIT ?`);
    this.changesBoth = db.prepare(`${base} AND c.severity = ? AND c.heuristic = ? ORDER BY c.tenant_seq LIMIT ?`);
  }

  /** Insert or update by id; appends a change row and returns the alert with its new seq. */
  upsertAlert(a: Alert, dedupKey?: string): Alert {
    const existing = this.keyOf.get(a.id) as { tenant: string; k: string } | undefined;
    if (existing && existing.tenant !== a.tenant) throw new Error(`alert id ${a.id} belongs to another tenant`);
    const existingKey = existing?.k;
    const body = bodyOf(a);
    const seq = (this.nextSeq.get(a.tenant) as { last: number }).last;
    this.insChange.run(a.tenant, seq, a.id, a.heuristic, a.severity, body);
    const binHash = alertBinHash(a);
    const key = dedupKey ?? existingKey ?? alertKeyOf(a, binHash);
    this.upsert.run({
      id: a.id,
      tenant: a.tenant,
      heuristic: a.heuristic,
      severity: a.severity,
      status: a.status,
      dedupKey: key,
      binHash: binHash ?? null,
      first: a.firstSeenUs,
      last: a.lastSeenUs,
      seq,
      json: body,
    });
    return { ...a, seq, change: existing ? 'update' : 'create' };
  }

  /** Last seq handed out to the tenant (its counter row survives retention), else the floor new counters start above. */
  lastSeq(tenant: string): number {
    const r = this.lastSeqOf.get(tenant) as { last: number } | undefined;
    if (r !== undefined) return r.last;
    return (this.seqFloor.get() as { value: number } | undefined)?.value ?? 0;
  }

  getAlert(tenant: string, id: string): Alert | undefined {
    const row = this.byId.get(tenant, id) as AlertRow | undefined;
    return row ? parse(row) : undefined;
  }

  /** The alert a new hit with this dedup key should update (not closed), if any. */
  openByKey(tenant: string, dedupKey: string): Alert | undefined {
    const row = this.byKey.get(tenant, dedupKey) as AlertRow | undefined;
    return row ? parse(row) : undefined;
  }

  idsByHash(tenant: string, hash: string, heuristic: Heuristic, limit: number): string[] {
    return (this.byHash.all(tenant, hash, heuristic, limit) as { id: string }[]).map((r) => r.id);
  }

  setStatus(tenant: string, id: string, status: AlertStatus): Alert | undefined {
    const a = this.getAlert(tenant, id);
    if (!a) return undefined;
    if (a.status === status) return a;
    return this.upsertAlert({ ...a, status });
  }

  listChanges(tenant: string, q: AlertChangeQuery): Alert[] {
    const limit = Math.max(0, Math.min(q.limit, 10_000));
    let rows: ChangeRow[];
    if (q.severity !== undefined && q.heuristic !== undefined) {
      rows = this.changesBoth.all(tenant, q.afterSeq, q.severity, q.heuristic, limit) as ChangeRow[];
    } else if (q.severity !== undefined) {
      rows = this.changesSev.all(tenant, q.afterSeq, q.severity, limit) as ChangeRow[];
    } else if (q.heuristic !== undefined) {
      rows = this.changesHeur.all(tenant, q.afterSeq, q.heuristic, limit) as ChangeRow[];
    } else {
      rows = this.changesAll.all(tenant, q.afterSeq, limit) as ChangeRow[];
    }
    return rows.map(parseChange);
  }
}
