/**
 * The embedded store: SQLite through better-sqlite3, WAL journal, one connection, prepared
 * statements built once.
 *
 * Batching: detect's writes go into one open transaction that commits every `batchSize` writes,
 * every `flushIntervalMs`, before any API read and on close; API writes commit at once. A batch
 * lost to `kill -9` is only the uncommitted tail; replaying the same input rebuilds it without
 * duplicates (stable alert ids, obsId upserts, the `contributions` table).
 *
 * Faults (faults.ts): when a write or a commit fails because the disk is full, an I/O error,
 * a read-only file or another connection's lock, the open batch is rolled back and its writes,
 * with every later one, go to a bounded queue; detect's reads see the queued alerts and
 * contributions, so deduplication stays right. Every `retryIntervalMs` the queue is replayed in
 * transactions of `batchSize` writes; when it is empty the fault has cleared. One `onFault`
 * event when an episode starts and one when it clears (with the number of writes it held), so
 * a caller logs each episode once. API writes never queue: they fail with `StoreFaultError`.
 * Nothing committed is touched: a failed commit rolls back only its own batch.
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
import { FAULT_TEXT, faultReasonOf, WriteQueue, type FaultReason, type QueueCounts, type QueuedWrite } from './faults.js';
import { UsageTable, type UsageQuery, type UsageRow } from './usage.js';
import type { AllowlistEntry, AllowQuery, Candidate, CandidateSighting, NewAllowlistEntry, ObservationRow } from './types.js';
import { schemaDefaults } from '../config.js';

export interface StoreOptions {
  /** TTL of observation rows and the default alert TTL, hours of capture time. Default: config `store.retention_hours`. */
  retentionHours?: number;
  /** Writes per committed batch. Default 500. */
  batchSize?: number;
  /** Longest time a write waits for its commit, ms (0 disables the timer). Default 250. */
  flushIntervalMs?: number;
  synchronous?: 'full' | 'normal';
  /** How long a write waits for another connection's lock, ms. Default: config `store.busy_timeout_ms`. */
  busyTimeoutMs?: number;
  /** Writes kept while the database cannot take them. Default: config `store.queue_max`. */
  queueMax?: number;
  /** How often a fault is retried, ms. Default: config `store.retry_interval_ms`. */
  retryIntervalMs?: number;
  /** Told once when a fault episode starts and once when it clears. */
  onFault?: (e: StoreFaultEvent) => void;
}

export type StoreFaultEvent =
  | { state: 'started'; path: string; reason: FaultReason; code: string; message: string }
  | { state: 'cleared'; path: string; reason: FaultReason; writes: number; dropped: number; seconds: number };

/** What /readyz, the metrics and replay's loss report read. */
export interface StoreStatus {
  writable: boolean;
  /** Set while a fault lasts. */
  reason?: FaultReason;
  code?: string;
  message?: string;
  /** Writes waiting for the database, by kind. */
  queued: QueueCounts;
  /** Writes dropped because the queue was full, since start. */
  dropped: QueueCounts;
  /** Fault episodes since start, by reason. */
  episodes: Record<string, number>;
  /** Writes that went to the queue, since start. */
  queuedTotal: number;
}

/** An API write while the database cannot take writes. */
export class StoreFaultError extends Error {
  readonly code = 'LLMTAP_ERR_STORE_FAULT';
  constructor(readonly path: string, readonly reason: FaultReason, detail: string) {
    super(`${path}: database not writable (${FAULT_TEXT[reason]}): ${detail}`);
    this.name = 'StoreFaultError';
  }
}

/** Defaults of the StoreOptions the config also sets: the config schema's `store` section. */
const STORE_DEFAULTS = schemaDefaults('store');

const US_PER_HOUR = 3_600_000_000;

export class StoreOpenError extends Error {
  readonly code = 'LLMTAP_ERR_STORE_OPEN';
  constructor(path: string, cause: unknown) {
    super(`cannot open store ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'StoreOpenError';
  }
}

export class Store {
  // statements of the current connection (a read-only fault reopens it: see reopen())
  private alerts!: AlertTable;
  private obs!: ObservationTable;
  private learned!: LearnedTables;
  private usageTable!: UsageTable;
  private retention!: Record<string, Statement>;
  private readonly retentionHours: number;
  private readonly batchSize: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private pending = 0;
  private flushing = false;
  private readonly beforeCommit: (() => void)[] = [];
  private closed = false;
  private errorCount = 0;
  /** Writes of the open transaction, replayable if it fails. */
  private batch: QueuedWrite[] = [];
  private readonly queue: WriteQueue;
  private fault: { reason: FaultReason; code: string; message: string; sinceMs: number; writes: number; dropped0: number } | undefined;
  private lastAttemptMs = 0;
  private readonly busyTimeoutMs: number;
  private readonly retryMs: number;
  private readonly onFault: ((e: StoreFaultEvent) => void) | undefined;
  private readonly episodes: Record<string, number> = {};
  private queuedTotal = 0;

  private constructor(private db: Db, private readonly path: string, private readonly opts: StoreOptions) {
    this.retentionHours = opts.retentionHours ?? STORE_DEFAULTS.retention_hours;
    this.batchSize = Math.max(1, opts.batchSize ?? 500);
    this.busyTimeoutMs = opts.busyTimeoutMs ?? STORE_DEFAULTS.busy_timeout_ms;
    this.retryMs = opts.retryIntervalMs ?? STORE_DEFAULTS.retry_interval_ms;
    this.onFault = opts.onFault;
    this.queue = new WriteQueue(Math.max(1, opts.queueMax ?? STORE_DEFAULTS.queue_max));
    migrate(db, Date.now());
    this.bind(db);
    const every = opts.flushIntervalMs ?? 250;
    if (every > 0) {
      this.timer = setInterval(() => this.flush(), every);
      this.timer.unref();
    }
  }

  private bind(db: Db): void {
    this.db = db;
    this.alerts = new AlertTable(db);
    this.obs = new ObservationTable(db);
    this.learned = new LearnedTables(db);
    this.usageTable = new UsageTable(db);
    this.retention = {
      tenants: db.prepare('SELECT DISTINCT tenant FROM alerts'),
      changes: db.prepare('DELETE FROM alert_changes WHERE alert_id IN (SELECT id FROM alerts WHERE tenant = ? AND last_seen_us < ?)'),
      contrib: db.prepare('DELETE FROM contributions WHERE scope IN (SELECT id FROM alerts WHERE tenant = ? AND last_seen_us < ?)'),
      alerts: db.prepare('DELETE FROM alerts WHERE tenant = ? AND last_seen_us < ?'),
      obs: db.prepare('DELETE FROM observations WHERE ts_us < ?'),
      candContrib: db.prepare("DELETE FROM contributions WHERE scope LIKE 'cand:%' AND ts_us < ?"),
    };
  }

  /** The connection of a file that was read-only stays read-only: a retry opens a new one. */
  private reopen(): void {
    let db: Db | undefined;
    try {
      db = new Database(this.path);
      Store.configure(db, { ...this.opts, busyTimeoutMs: 0 });
      const old = this.db;
      this.bind(db);
      old.close();
    } catch {
      db?.close(); // still not writable; the next retry tries again
    }
  }

  /** Connection settings shared by open() and reopen(). */
  private static configure(db: Db, opts: StoreOptions): void {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? STORE_DEFAULTS.busy_timeout_ms))}`);
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
      Store.configure(db, opts);
      return new Store(db, path, opts);
    } catch (err) {
      db.close();
      throw new StoreOpenError(path, err);
    }
  }

  // ───────────── batching ─────────────

  /**
   * A detect write: into the open batch, or into the queue while a fault lasts (then `queued`
   * is returned). A storage fault never throws from here; any other error does.
   */
  private write<T>(w: QueuedWrite, fn: () => T, queued: () => T): T {
    if (this.closed) throw new Error('store is closed');
    if (this.fault !== undefined) {
      const out = queued();
      this.enqueue(w);
      return out;
    }
    try {
      if (!this.db.inTransaction) this.db.exec('BEGIN IMMEDIATE');
      const out = fn();
      this.batch.push(w);
      if (++this.pending >= this.batchSize && !this.flushing) this.flush();
      return out;
    } catch (err) {
      const reason = faultReasonOf(err);
      this.errorCount++;
      if (reason === undefined) throw err;
      this.enterFault(reason, err);
      const out = queued();
      this.enqueue(w);
      return out;
    }
  }

  private enqueue(w: QueuedWrite): void {
    this.queue.add(w, w.dedupKey);
    this.queuedTotal++;
    if (this.fault !== undefined) this.fault.writes++;
  }

  /** Rolls the open batch back into the queue. */
  private enterFault(reason: FaultReason, err: unknown): void {
    const code = String((err as { code?: unknown }).code ?? 'SQLITE_ERROR');
    const message = err instanceof Error ? err.message : String(err);
    try {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    } catch {
      // a failed rollback leaves nothing committed behind; the retry starts a new transaction
    }
    const started = this.fault === undefined;
    if (started) {
      this.fault = { reason, code, message, sinceMs: Date.now(), writes: 0, dropped0: sum(this.queue.dropped) };
      this.episodes[reason] = (this.episodes[reason] ?? 0) + 1;
      // while the fault lasts nothing may wait for a lock: capture shares this thread
      this.setBusyTimeout(0);
    } else {
      Object.assign(this.fault!, { reason, code, message });
    }
    const lost = this.batch;
    this.batch = [];
    this.pending = 0;
    for (const q of lost) this.enqueue(q);
    this.lastAttemptMs = Date.now();
    if (started) this.onFault?.({ state: 'started', path: this.path, reason, code, message });
  }

  private setBusyTimeout(ms: number): void {
    try {
      this.db.pragma(`busy_timeout = ${Math.floor(ms)}`);
    } catch {
      // not a statement that can fail on a fault; ignore if it does
    }
  }

  /**
   * Replays the queue in transactions of `batchSize` writes (for at most ~200 ms per call);
   * the fault clears when the queue is empty. Returns whether the store is writable.
   */
  private retry(force: boolean): boolean {
    const f = this.fault;
    if (f === undefined) return true;
    const t0 = Date.now();
    if (!force && t0 - this.lastAttemptMs < this.retryMs) return false;
    this.lastAttemptMs = t0;
    if (f.reason === 'readonly' || f.reason === 'cantopen') this.reopen();
    for (let first = true; ; first = false) {
      const ws = this.queue.peek(this.batchSize);
      // nothing queued (an API write failed): a write transaction of its own tells whether the fault lasts
      if (ws.length === 0 && !first) break;
      try {
        this.db.exec('BEGIN IMMEDIATE');
        for (const w of ws) {
          try {
            w.run();
          } catch (err) {
            if (faultReasonOf(err) !== undefined) throw err;
            this.errorCount++; // not a storage fault: this one write is bad, the others go on
          }
        }
        this.db.exec('COMMIT');
      } catch (err) {
        try {
          if (this.db.inTransaction) this.db.exec('ROLLBACK');
        } catch {
          // see enterFault
        }
        const reason = faultReasonOf(err) ?? f.reason;
        Object.assign(f, { reason, code: String((err as { code?: unknown }).code ?? f.code), message: err instanceof Error ? err.message : String(err) });
        return false;
      }
      this.queue.consume(ws.length);
      if (!force && Date.now() - t0 > 200) {
        this.lastAttemptMs = 0; // go on at the next flush
        return false;
      }
    }
    this.fault = undefined;
    this.setBusyTimeout(this.busyTimeoutMs);
    this.onFault?.({
      state: 'cleared', path: this.path, reason: f.reason, writes: f.writes,
      dropped: sum(this.queue.dropped) - f.dropped0, seconds: Math.round((Date.now() - f.sinceMs) / 100) / 10,
    });
    return true;
  }

  /**
   * Runs `fn` inside every batch just before it commits (and before API reads and writes), so a
   * writer can keep coalesced state in memory and still land it in the same transaction as the
   * rows it depends on. detect's deduper writes its pending alert updates here.
   */
  onBeforeCommit(fn: () => void): void {
    this.beforeCommit.push(fn);
  }

  /** Commits the open batch, if any; while a fault lasts, retries the queue (throttled). Never throws. */
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
    if (this.fault !== undefined) {
      this.retry(false);
      return;
    }
    if (!this.db.inTransaction) return;
    try {
      this.db.exec('COMMIT');
      this.pending = 0;
      this.batch = [];
    } catch (err) {
      this.errorCount++;
      this.enterFault(faultReasonOf(err) ?? 'io', err);
    }
  }

  /** Commits, and if a fault lasts retries its queue once now. Returns whether the store is writable. */
  settle(): boolean {
    if (this.closed) return false;
    this.flush();
    return this.retry(true);
  }

  /** API writes: durable when the call returns, or a `StoreFaultError` (never queued). */
  private writeNow<T>(fn: () => T): T {
    if (this.closed) throw new Error('store is closed');
    this.flush();
    if (this.fault !== undefined && !this.retry(true)) throw new StoreFaultError(this.path, this.fault.reason, this.fault.message);
    let out: T;
    try {
      if (!this.db.inTransaction) this.db.exec('BEGIN IMMEDIATE');
      out = fn();
    } catch (err) {
      this.errorCount++;
      const reason = faultReasonOf(err);
      if (reason === undefined) throw err;
      this.enterFault(reason, err);
      throw new StoreFaultError(this.path, reason, err instanceof Error ? err.message : String(err));
    }
    this.flush();
    if (this.fault !== undefined) throw new StoreFaultError(this.path, this.fault.reason, this.fault.message);
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
    const run = (): Alert => this.alerts.upsertAlert(a, dedupKey);
    const w: QueuedWrite = { kind: 'alert', key: `a:${a.tenant}\0${a.id}`, run, alert: a };
    if (dedupKey !== undefined) w.dedupKey = dedupKey;
    return this.write(w, run, () => a);
  }

  /** AI observations only (a verdict is required); upsert by obsId. */
  insertObservation(o: Observation, marks?: ObservationMarks): void {
    const run = (): void => {
      this.obs.upsert(o, marks);
    };
    this.write({ kind: 'observation', key: `o:${o.obsId}`, run }, run, () => undefined);
  }

  /** The candidate after the update, or undefined while a fault holds the write. */
  upsertCandidate(tenant: string, c: CandidateSighting): Candidate | undefined {
    const run = (): Candidate => this.learned.upsertCandidate(tenant, c);
    return this.write<Candidate | undefined>({ kind: 'other', key: undefined, run }, run, () => undefined);
  }

  contribute(scope: string, obsId: string, tsUs: number): boolean {
    const run = (): boolean => this.learned.contribute(scope, obsId, tsUs);
    const key = `c:${scope}\0${obsId}`;
    // while a fault lasts: new unless queued or committed (a read that fails counts as not committed)
    const fresh = (): boolean => {
      if (this.queue.has(key)) return false;
      try {
        return !this.learned.hasContributed(scope, obsId);
      } catch {
        return true;
      }
    };
    return this.write({ kind: 'alert', key, run }, run, fresh);
  }

  hasContributed(scope: string, obsId: string): boolean {
    if (this.fault !== undefined && this.queue.has(`c:${scope}\0${obsId}`)) return true;
    return this.learned.hasContributed(scope, obsId);
  }

  isAllowlisted(tenant: string, q: AllowQuery): AllowlistEntry | undefined {
    return this.learned.allowlisted(tenant, q);
  }

  openAlertByKey(tenant: string, dedupKey: string): Alert | undefined {
    if (this.fault !== undefined) {
      const q = this.queue.openAlertByKey(tenant, dedupKey);
      if (q !== undefined) return q;
    }
    return this.alerts.openByKey(tenant, dedupKey);
  }

  /** Alert by id, including uncommitted and queued ones (for detect; the API uses getAlert). */
  peekAlert(tenant: string, id: string): Alert | undefined {
    if (this.fault !== undefined) {
      const q = this.queue.alert(tenant, id);
      if (q !== undefined) return q;
    }
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
    const run = (): void => this.learned.addInventory(tenant, hash, firstSeenUs, source);
    this.write({ kind: 'other', key: undefined, run }, run, () => undefined);
  }

  /** First sighting of a (device, process, provider) in the tenant, or undefined. */
  pairFirstSeen(tenant: string, device: string, process: string, provider: string): number | undefined {
    return this.learned.pairFirstSeen(tenant, device, process, provider);
  }

  addPairFirstSeen(tenant: string, device: string, process: string, provider: string, tsUs: number): void {
    const run = (): void => this.learned.addPairFirstSeen(tenant, device, process, provider, tsUs);
    this.write({ kind: 'other', key: undefined, run }, run, () => undefined);
  }

  lineages(tenant: string, processName: string): Map<string, number> {
    return this.learned.lineages(tenant, processName);
  }

  addLineage(tenant: string, processName: string, lineageHash: string, tsUs: number): void {
    const run = (): void => this.learned.addLineage(tenant, processName, lineageHash, tsUs);
    this.write({ kind: 'other', key: undefined, run }, run, () => undefined);
  }

  tenantFirstObs(tenant: string): number | undefined {
    return this.learned.tenantFirstObs(tenant);
  }

  setTenantFirstObs(tenant: string, tsUs: number): void {
    const run = (): void => this.learned.setTenantFirstObs(tenant, tsUs);
    this.write({ kind: 'other', key: undefined, run }, run, () => undefined);
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

  /** The tenant's usage summary over a window (see src/store/usage.ts). */
  usage(tenant: string, q: UsageQuery): UsageRow[] {
    return this.read(() => this.usageTable.usage(tenant, q));
  }

  /** Tenants that have stored observations. */
  observationTenants(): string[] {
    return this.read(() => this.usageTable.tenants());
  }

  /** Start times of the tenant's oldest and newest stored observation, or undefined. */
  observationSpan(tenant: string): { firstUs: number; lastUs: number } | undefined {
    return this.read(() => this.usageTable.observationSpan(tenant));
  }

  h1RatePerDay(tenant: string): { day: string; h1: number; observations: number }[] {
    return this.read(() => this.obs.h1RatePerDay(tenant));
  }

  // ───────────── housekeeping ─────────────

  /** Failed writes, commits and before-commit hooks since open (for a metric). */
  errors(): number {
    return this.errorCount;
  }

  /** False when closed or while a storage fault lasts (disk full, I/O error, read-only, locked). */
  writable(): boolean {
    return !this.closed && this.db.open && this.fault === undefined;
  }

  status(): StoreStatus {
    const f = this.fault;
    return {
      writable: this.writable(),
      ...(f !== undefined ? { reason: f.reason, code: f.code, message: f.message } : {}),
      queued: { ...this.queue.depth },
      dropped: { ...this.queue.dropped },
      episodes: { ...this.episodes },
      queuedTotal: this.queuedTotal,
    };
  }

  /** Alerts still waiting for the database and the newest ones dropped from a full queue. */
  unstoredAlerts(): { queued: Alert[]; dropped: Alert[] } {
    return { queued: this.queue.queuedAlerts(), dropped: [...this.queue.droppedAlerts] };
  }

  /** The database file. */
  file(): string {
    return this.path;
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
    if (this.fault !== undefined) this.retry(true);
    if (this.timer) clearInterval(this.timer);
    this.closed = true;
    this.db.close();
  }
}

function sum(c: QueueCounts): number {
  return c.alert + c.observation + c.other;
}
