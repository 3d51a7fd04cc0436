/**
 * The embedded store: SQLite through better-sqlite3, WAL journal, one connection, prepared
 * statements built once.
 *
 * Batching: detect's writes go into one open transaction that commits every `batchSize` writes,
 * every `flushIntervalMs`, before any API read and on close; API writes commit at once. A batch
 * lost to `kill -9` is only the uncommitted tail; replaying the same input rebuilds it without
 * duplicates (stable alert ids, obsId upserts, the `contributions` table).
 *
 * Durability: `synchronous=FULL` by default. In WAL mode NORMAL already survives a process kill
 * (committed pages are in the OS cache), but a power loss could roll back the last commits and
 * let a change seq a SIEM has already read be reissued for a different change. Because commits
 * are batched, FULL costs one fsync per batch (a few per second at most), so we keep it;
 * `synchronous: 'normal'` is available for disks where fsync is pathological.
 */
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import type { Alert, AlertStatus, Heuristic, Observation, Severity } from '../records.js';
import { AlertTable } from './alerts.js';
import { LearnedTables } from './learned.js';
import { ObservationTable, type ObservationMarks, type ObservationQuery } from './observations.js';
import { migrate } from './schema.js';
import type { AllowlistEntry, AllowQuery, Candidate, CandidateSighting, NewAllowlistEntry, ObservationRow } from './types.js';

export interface StoreOptions {
  /** TTL of observation rows and the default alert TTL, hours of capture time. Default 72. */
  retentionHours?: number;
  /** Writes per committed batch. Default 500. */
  batchSize?: number;
  /** Longest time a write waits for its commit, ms (0 disables the timer). Default 250. */
  flushIntervalMs?: number;
  synchronous?: 'full' | 'normal';
}

const US_PER_HOUR = 3_600_000_000;

export class StoreOpenError extends Error {
  readonly code = 'LLMTAP_ERR_STORE_OPEN';
  constructor(path: string, cause: unknown) {
    super(`cannot open store ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'StoreOpenError';
  }
}

export class Store {
  private readonly alerts: AlertTable;
  private readonly obs: ObservationTable;
  private readonly learned: LearnedTables;
  private readonly retention: Record<string, Statement>;
  private readonly retentionHours: number;
  private readonly batchSize: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private pending = 0;
  private flushing = false;
  private readonly beforeCommit: (() => void)[] = [];
  private closed = false;
  private lastError: Error | undefined;
  private errorCount = 0;

  private constructor(private readonly db: Db, opts: StoreOptions) {
    this.retentionHours = opts.retentionHours ?? 72;
    this.batchSize = Math.max(1, opts.batchSize ?? 500);
    migrate(db, Date.now());
    this.alerts = new AlertTable(db);
    this.obs = new ObservationTable(db);
    this.learned = new LearnedTables(db);
    this.retention = {
      tenants: db.prepare('SELECT DISTINCT tenant FROM alerts'),
      changes: db.prepare('DELETE FROM alert_changes WHERE alert_id IN (SELECT id FROM alerts WHERE tenant = ? AND last_seen_us < ?)'),
      contrib: db.prepare('DELETE FROM contributions WHERE scope IN (SELECT id FROM alerts WHERE tenant = ? AND last_seen_us < ?)'),
      alerts: db.prepare('DELETE FROM alerts WHERE tenant = ? AND last_seen_us < ?'),
      obs: db.prepare('DELETE FROM observations WHERE ts_us < ?'),
      candContrib: db.prepare("DELETE FROM contributions WHERE scope LIKE 'cand:%' AND ts_us < ?"),
    };
    const every = opts.flushIntervalMs ?? 250;
    if (every > 0) {
      this.timer = setInterval(() => this.flush(), every);
      this.timer.unref();
    }
  }

  /** Opens (creating and migrating as needed). A file that is not a usable llmtap database
   * gives a `StoreOpenError` naming it, never a half-open store. */
  static open(path: string, opts: StoreOptions = {}): Store {
    let db: Db;
    try {
      db = new Database(path);
    } catch (err) {
      throw new StoreOpenError(path, err);
    }
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
      db.pragma('busy_timeout = 5000');
      return new Store(db, opts);
    } catch (err) {
      db.close();
      throw new StoreOpenError(path, err);
    }
  }

  // ───────────── batching ─────────────

  private write<T>(fn: () => T): T {
    if (this.closed) throw new Error('store is closed');
    try {
      if (!this.db.inTransaction) this.db.exec('BEGIN IMMEDIATE');
      const out = fn();
      if (++this.pending >= this.batchSize && !this.flushing) this.flush();
      this.lastError = undefined;
      return out;
    } catch (err) {
      this.lastError = err instanceof Error ? err : new Error(String(err));
      this.errorCount++;
      throw err;
    }
  }

  /**
   * Runs `fn` inside every batch just before it commits (and before API reads and writes), so a
   * writer can keep coalesced state in memory and still land it in the same transaction as the
   * rows it depends on. detect's deduper writes its pending alert updates here.
   */
  onBeforeCommit(fn: () => void): void {
    this.beforeCommit.push(fn);
  }

  /** Commits the open batch, if any. */
  flush(): void {
    if (this.closed || this.flushing) return;
    this.flushing = true;
    try {
      for (const fn of this.beforeCommit) fn();
    } catch {
      // Never thrown from here: flush runs from a timer too. Counted in errors().
      this.errorCount++;
    } finally {
      this.flushing = false;
    }
    if (!this.db.inTransaction) return;
    try {
      this.db.exec('COMMIT');
      this.pending = 0;
      this.lastError = undefined;
    } catch (err) {
      this.lastError = err instanceof Error ? err : new Error(String(err));
      this.errorCount++;
      try {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
      } catch {
        // The connection is unusable; writable() already reports false.
      }
      this.pending = 0;
    }
  }

  /** API writes: durable when the call returns. */
  private writeNow<T>(fn: () => T): T {
    this.flush();
    const out = this.write(fn);
    this.flush();
    return out;
  }

  /** API reads see committed data only, so a seq they hand out can never be rolled back. */
  private read<T>(fn: () => T): T {
    if (this.closed) throw new Error('store is closed');
    this.flush();
    return fn();
  }

  // ───────────── writes (detect) ─────────────

  upsertAlert(a: Alert, dedupKey?: string): Alert {
    return this.write(() => this.alerts.upsertAlert(a, dedupKey));
  }

  /** AI observations only (a verdict is required); upsert by obsId. */
  insertObservation(o: Observation, marks?: ObservationMarks): void {
    this.write(() => this.obs.upsert(o, marks));
  }

  upsertCandidate(tenant: string, c: CandidateSighting): Candidate {
    return this.write(() => this.learned.upsertCandidate(tenant, c));
  }

  contribute(scope: string, obsId: string, tsUs: number): boolean {
    return this.write(() => this.learned.contribute(scope, obsId, tsUs));
  }

  hasContributed(scope: string, obsId: string): boolean {
    return this.learned.hasContributed(scope, obsId);
  }

  isAllowlisted(tenant: string, q: AllowQuery): AllowlistEntry | undefined {
    return this.learned.allowlisted(tenant, q);
  }

  openAlertByKey(tenant: string, dedupKey: string): Alert | undefined {
    return this.alerts.openByKey(tenant, dedupKey);
  }

  /** Alert by id, including uncommitted ones (for detect; the API uses getAlert). */
  peekAlert(tenant: string, id: string): Alert | undefined {
    return this.alerts.getAlert(tenant, id);
  }

  alertIdsByHash(tenant: string, hash: string, heuristic: Heuristic, limit = 50): string[] {
    return this.alerts.idsByHash(tenant, hash, heuristic, limit);
  }

  /** Earliest sighting of a hash in the tenant (imports are 0), or undefined. */
  inventoryFirstSeen(tenant: string, hash: string): number | undefined {
    return this.learned.inventoryFirstSeen(tenant, hash);
  }

  /** True when the hash was known at `beforeUs` (seen at or before it, or imported). */
  inventoryHas(tenant: string, hash: string, beforeUs = Number.POSITIVE_INFINITY): boolean {
    const f = this.learned.inventoryFirstSeen(tenant, hash);
    return f !== undefined && f <= beforeUs;
  }

  addInventory(tenant: string, hash: string, firstSeenUs: number, source = 'edr'): void {
    this.write(() => this.learned.addInventory(tenant, hash, firstSeenUs, source));
  }

  /** First sighting of a (device, process, provider) in the tenant, or undefined. */
  pairFirstSeen(tenant: string, device: string, process: string, provider: string): number | undefined {
    return this.learned.pairFirstSeen(tenant, device, process, provider);
  }

  addPairFirstSeen(tenant: string, device: string, process: string, provider: string, tsUs: number): void {
    this.write(() => this.learned.addPairFirstSeen(tenant, device, process, provider, tsUs));
  }

  lineages(tenant: string, processName: string): Map<string, number> {
    return this.learned.lineages(tenant, processName);
  }

  addLineage(tenant: string, processName: string, lineageHash: string, tsUs: number): void {
    this.write(() => this.learned.addLineage(tenant, processName, lineageHash, tsUs));
  }

  tenantFirstObs(tenant: string): number | undefined {
    return this.learned.tenantFirstObs(tenant);
  }

  setTenantFirstObs(tenant: string, tsUs: number): void {
    this.write(() => this.learned.setTenantFirstObs(tenant, tsUs));
  }

  // ───────────── reads and writes (API), always tenant-scoped ─────────────

  listAlertChanges(tenant: string, q: { afterSeq: number; limit: number; severity?: Severity; heuristic?: Heuristic }): Alert[] {
    return this.read(() => this.alerts.listChanges(tenant, q));
  }

  /** The tenant's newest change seq (0 or the migration floor when it has none): where a follower starts. */
  lastAlertSeq(tenant: string): number {
    return this.read(() => this.alerts.lastSeq(tenant));
  }

  getAlert(tenant: string, id: string): Alert | undefined {
    return this.read(() => this.alerts.getAlert(tenant, id));
  }

  setAlertStatus(tenant: string, id: string, status: AlertStatus): Alert | undefined {
    return this.writeNow(() => this.alerts.setStatus(tenant, id, status));
  }

  listObservations(tenant: string, q: ObservationQuery): ObservationRow[] {
    return this.read(() => this.obs.list(tenant, q));
  }

  listAllowlist(tenant: string): AllowlistEntry[] {
    return this.read(() => this.learned.listAllowlist(tenant));
  }

  addAllowlist(tenant: string, e: NewAllowlistEntry): AllowlistEntry {
    return this.writeNow(() => this.learned.addAllowlist(tenant, e, Date.now(), 'manual'));
  }

  removeAllowlist(tenant: string, id: number): boolean {
    return this.writeNow(() => this.learned.removeAllowlist(tenant, id));
  }

  /** The config file's allowlist, applied in one transaction: see `LearnedTables.replaceConfigAllowlist`. */
  replaceConfigAllowlist(want: Array<{ tenant: string; entry: NewAllowlistEntry }>): { added: number; removed: number; kept: number } {
    return this.writeNow(() => this.learned.replaceConfigAllowlist(want, Date.now()));
  }

  listCandidates(tenant: string): Candidate[] {
    return this.read(() => this.learned.listCandidates(tenant));
  }

  approveCandidate(tenant: string, id: number, justification: string): AllowlistEntry | undefined {
    return this.writeNow(() => this.learned.approveCandidate(tenant, id, justification, Date.now()));
  }

  /** Adds hashes to the known inventory (first seen 0: known before any window). Returns how
   * many were valid hex SHA-256/SHA-1 values. */
  importInventory(tenant: string, hashes: string[], source: string): number {
    const ok = hashes.filter((h) => /^([0-9a-f]{64}|[0-9a-f]{40})$/i.test(h));
    this.writeNow(() => {
      for (const h of ok) this.learned.addInventory(tenant, h, 0, source);
    });
    return ok.length;
  }

  h1RatePerDay(tenant: string): { day: string; h1: number; observations: number }[] {
    return this.read(() => this.obs.h1RatePerDay(tenant));
  }

  // ───────────── housekeeping ─────────────

  /** Failed writes, commits and before-commit hooks since open (for a metric). */
  errors(): number {
    return this.errorCount;
  }

  /** False when closed or when the last write or commit failed (disk full, I/O error). */
  writable(): boolean {
    return !this.closed && this.db.open && this.lastError === undefined;
  }

  /**
   * Deletes anomaly rows past their TTL, measured against `nowMs` (capture time when called
   * from detect): observations older than `retentionHours`, alerts (with their change rows and
   * contributions) not seen for their tenant's TTL (`alertTtlHours[tenant]`, else
   * `retentionHours`). Allowlist, candidates, inventory and lineage are kept. Returns rows deleted.
   */
  runRetention(nowMs: number, alertTtlHours: Record<string, number> = {}): number {
    const nowUs = nowMs * 1000;
    const st = (n: string): Statement => this.retention[n] as Statement;
    return this.writeNow(() => {
      let n = 0;
      for (const { tenant } of st('tenants').all() as { tenant: string }[]) {
        const cutoff = nowUs - (alertTtlHours[tenant] ?? this.retentionHours) * US_PER_HOUR;
        n += st('changes').run(tenant, cutoff).changes;
        n += st('contrib').run(tenant, cutoff).changes;
        n += st('alerts').run(tenant, cutoff).changes;
      }
      const obsCutoff = nowUs - this.retentionHours * US_PER_HOUR;
      n += st('obs').run(obsCutoff).changes;
      n += st('candContrib').run(obsCutoff).changes;
      return n;
    });
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    if (this.timer) clearInterval(this.timer);
    this.closed = true;
    this.db.close();
  }
}
