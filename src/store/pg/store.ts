/**
 * The fleet hub's store: PostgreSQL through node-postgres (`pg`), schema by versioned
 * migrations (migrations.ts).
 *
 * Design. Detection is synchronous: the detector asks the store, in the middle of one
 * observation, whether an alert with this key is open, whether this observation already counted
 * toward it, whether the binary is known… and PostgreSQL answers only asynchronously. So the hub
 * keeps what detection reads in memory — alerts (their current state and dedup key), which
 * observation counted toward which alert or candidate, allowlist, candidates, inventory, first
 * sightings, lineage and the warm-up clock — loaded from PostgreSQL when the store opens, and
 * written through: every detect write changes the memory at once and appends one operation to a
 * queue. `commit()` takes the queue (after the before-commit hooks, where the deduper writes its
 * coalesced alert updates) and writes it in one transaction; its promise resolves when that
 * transaction, and every earlier one, is committed. The hub acknowledges a NATS message only
 * after the `commit()` that followed its processing resolved. Commits run one after another on
 * a chain, so the database sees writes in the order detection made them.
 *
 * What is only in PostgreSQL: observations, the alert change log, h1_daily. The API reads those
 * (and everything else it serves) from PostgreSQL after awaiting the pending commit, so a
 * response never shows a change that could still be rolled back.
 *
 * Sequence numbers. A transaction reserves its tenant's change numbers by updating the tenant's
 * counter row (`alert_seq`, `obs_seq`, `INSERT … ON CONFLICT DO UPDATE SET last = last + n`)
 * before it writes anything else. The row lock it takes is held to commit, so a second writer of
 * the same tenant (another hub, an API call on another connection) waits there, and gets its
 * numbers only after the first one's commit is visible. Numbers are therefore handed out in
 * commit order and without gaps (a rolled-back transaction also rolls back its reservation): a
 * poller that saw seq N can never later miss a change numbered below N.
 *
 * Faults. A commit that fails because the server cannot take it (connection lost, shutdown,
 * disk full, read-only, lock timeout or deadlock) puts its operations back at the head of the
 * queue, marks the store not writable (one `onFault` event per episode) and rejects its promise;
 * the timer retries every `retryIntervalMs` and the first commit that succeeds clears the
 * fault. The queue is bounded (`queueMax`): past it the oldest observation and learning writes
 * are dropped (counted), alerts last. An operation the server rejects for its data (not a
 * fault) is retried alone and, if it fails again, dropped and counted in `errors()` — one bad
 * row never blocks the queue. An API write during a fault is answered with `StoreFaultError`;
 * a status change or inventory import made then stays queued and lands with the next commit.
 *
 * One hub process owns a tenant's detection state: two hubs detecting for the same tenant
 * would each hold their own memory and count twice. Any number of API-only readers may share
 * the database.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { DetectStore } from '../../detect/sink.js';
import type { Alert, AlertStatus, Heuristic, Observation, Severity } from '../../records.js';
import { schemaDefaults, type SensorConfig } from '../../config.js';
import { alertBinHash, alertKeyOf, bodyOf } from '../alerts.js';
import { FAULT_TEXT, type FaultReason, type QueueCounts } from '../faults.js';
import { allowEntry, allowMatches, candidate, CANDIDATE_MAX_DEVICES, type AllowRow, type CandRow } from '../learned.js';
import { OBSERVATION_COLUMNS, observationValues, toRow, utcDay, type ObservationMarks, type ObservationQuery, type Row } from '../observations.js';
import { checkUsageQuery, DIM_SQL } from '../usage.js';
import type { StoreStatus } from '../store.js';
import { OBSERVATION_FIELDS, type AllowlistEntry, type AllowQuery, type Candidate, type CandidateSighting, type NewAllowlistEntry, type ObservationRow, type UsageQuery, type UsageRow } from '../types.js';
import { migratePg } from './migrations.js';

const STORE_DEFAULTS = schemaDefaults('store');
const US_PER_HOUR = 3_600_000_000;
/** Connections in the pool (one writes, the others serve API reads). */
const POOL_MAX = 4;
/** Operations per transaction when a long queue is written (after an outage). */
const MAX_TX_OPS = 5000;

export interface PgStoreOptions {
  /** TTL of observation rows and the default alert TTL, hours of capture time. Default 72. */
  retentionHours?: number;
  /** Queued writes that start a commit. Default 500. */
  batchSize?: number;
  /** Longest time a write waits for its commit, ms (0 disables the timer). Default 250. */
  flushIntervalMs?: number;
  /** Writes kept while the database cannot take them. Default 100000. */
  queueMax?: number;
  /** How often a fault is retried, ms. Default 1000. */
  retryIntervalMs?: number;
  /** Told once when a fault episode starts and once when it clears. */
  onFault?: (e: PgFaultEvent) => void;
}

/** The options the config's `store` section sets (open with `PgStore.open(cfg.store.url, pgStoreOptions(cfg.store))`). */
export function pgStoreOptions(s: SensorConfig['store'], extra: Partial<PgStoreOptions> = {}): PgStoreOptions {
  return { retentionHours: s.retention_hours, queueMax: s.queue_max, retryIntervalMs: s.retry_interval_ms, ...extra };
}

export type PgFaultEvent =
  | { state: 'started'; path: string; reason: FaultReason; code: string; message: string }
  | { state: 'cleared'; path: string; reason: FaultReason; writes: number; dropped: number; seconds: number };

export class PgStoreOpenError extends Error {
  readonly code = 'LLMTAP_ERR_STORE_OPEN';
  constructor(where: string, cause: unknown) {
    super(`cannot open store ${where}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'PgStoreOpenError';
  }
}

/** An API write while the database cannot take writes (same code as the SQLite store's). */
export class PgStoreFaultError extends Error {
  readonly code = 'LLMTAP_ERR_STORE_FAULT';
  constructor(readonly path: string, readonly reason: FaultReason, detail: string) {
    super(`${path}: database not writable (${FAULT_TEXT[reason]}): ${detail}`);
    this.name = 'PgStoreFaultError';
  }
}

/** The URL without its password (logs, errors, events). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable url)';
  }
}

/** The fault a PostgreSQL or socket error stands for, or undefined when the data is the problem. */
export function pgFaultReasonOf(err: unknown): FaultReason | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') {
    // node-postgres: "Connection terminated", "Client has encountered a connection error…"
    return err instanceof Error && /connection|terminated|timeout/i.test(err.message) ? 'cantopen' : undefined;
  }
  if (code === '53100') return 'full'; // disk_full
  if (code === '25006') return 'readonly'; // read_only_sql_transaction (a standby)
  if (code === '40P01' || code === '40001' || code === '55P03' || code === '57014') return 'busy'; // deadlock, serialization, lock timeout, canceled
  if (code.startsWith('08') || code.startsWith('57P') || code.startsWith('53') || code.startsWith('58') || code.startsWith('XX')) return code.startsWith('58') || code.startsWith('XX') ? 'io' : 'cantopen';
  if (/^E[A-Z]+$/.test(code)) return 'cantopen'; // ECONNREFUSED, ECONNRESET, ETIMEDOUT…
  return undefined;
}

// ───────────── queued operations ─────────────

/** An observation's column values (`observationValues`): every column but `tenant_seq` and `h1`. */
type ObsRecord = { obs_id: string; ts_us: number } & Record<string, string | number | boolean | null>;

type Op =
  | { t: 'alert'; tenant: string; id: string; heuristic: string; severity: string; status: string; key: string; binHash: string | null; first: number; last: number; json: string }
  | { t: 'obs'; tenant: string; row: ObsRecord; h1: boolean }
  | { t: 'contrib'; scope: string; obsId: string; tsUs: number }
  | { t: 'cand'; tenant: string; name: string; provider: string; category: string; devices: string; deviceCount: number; count: number; first: number; last: number }
  | { t: 'inv'; tenant: string; hash: string; first: number; source: string }
  | { t: 'pair'; tenant: string; device: string; process: string; provider: string; first: number }
  | { t: 'lin'; tenant: string; process: string; hash: string; first: number }
  | { t: 'ten'; tenant: string; first: number }
  | { t: 'retention'; alertCutoffs: [string, number][]; obsCutoff: number };

function kindOf(op: Op): keyof QueueCounts {
  return op.t === 'alert' || op.t === 'contrib' ? 'alert' : op.t === 'obs' ? 'observation' : 'other';
}

interface MemAlert {
  tenant: string;
  key: string;
  binHash: string | undefined;
  heuristic: Heuristic;
  status: AlertStatus;
  firstSeenUs: number;
  lastSeenUs: number;
  json: string;
}

interface MemCandidate {
  category: string;
  devices: string[];
  deviceCount: number;
  count: number;
  first: number;
  last: number;
  status: 'pending' | 'approved';
  id: number | undefined;
}

const k2 = (a: string, b: string): string => `${a}\0${b}`;

function addTo(index: Map<string, Set<string>>, key: string, id: string): void {
  let s = index.get(key);
  if (s === undefined) index.set(key, (s = new Set()));
  s.add(id);
}

function removeFrom(index: Map<string, Set<string>>, key: string, id: string): void {
  const s = index.get(key);
  if (s === undefined) return;
  s.delete(id);
  if (s.size === 0) index.delete(key);
}

/** int8 (counts, bigint columns) as numbers: every value this store keeps is far below 2^53. */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

const OBS_COLS = OBSERVATION_COLUMNS;
/** Boolean columns, read back as 0/1 like SQLite's (`toRow`). */
const OBS_BOOL = new Set<string>(OBSERVATION_FIELDS.filter((f) => f.type === 'boolean').map((f) => f.column));

export class PgStore implements DetectStore {
  private readonly retentionHours: number;
  private readonly batchSize: number;
  private readonly queueMax: number;
  private readonly retryMs: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly onFault: ((e: PgFaultEvent) => void) | undefined;
  private readonly beforeCommit: (() => void)[] = [];
  private closed = false;
  private errorCount = 0;

  // memory: what detection reads
  private readonly alerts = new Map<string, MemAlert>();
  private readonly alertsByKey = new Map<string, Set<string>>();
  private readonly alertsByHash = new Map<string, Set<string>>();
  private readonly contributions = new Map<string, number>();
  private allow = new Map<string, AllowlistEntry[]>();
  private readonly candidates = new Map<string, MemCandidate>();
  private readonly inventory = new Map<string, { first: number; source: string }>();
  private readonly pairs = new Map<string, number>();
  private readonly lineage = new Map<string, Map<string, number>>();
  private readonly tenantFirst = new Map<string, number>();

  // the write queue and the commit chain
  private queue: Op[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private waiting: Promise<void> | undefined;
  private fault: { reason: FaultReason; code: string; message: string; sinceMs: number; writes: number; dropped0: number } | undefined;
  private lastAttemptMs = 0;
  private readonly dropped: QueueCounts = { alert: 0, observation: 0, other: 0 };
  private readonly episodes: Record<string, number> = {};
  private queuedTotal = 0;
  /** The token of this store's last committed transaction (deleted by the next one). */
  private lastToken: string | undefined;
  /** A transaction whose COMMIT got no answer: its token and operations (back in the queue). */
  private uncertain: { token: string; ops: Set<Op> } | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly where: string,
    opts: PgStoreOptions,
  ) {
    this.retentionHours = opts.retentionHours ?? STORE_DEFAULTS.retention_hours;
    this.batchSize = Math.max(1, opts.batchSize ?? 500);
    this.queueMax = Math.max(1, opts.queueMax ?? STORE_DEFAULTS.queue_max);
    this.retryMs = opts.retryIntervalMs ?? STORE_DEFAULTS.retry_interval_ms;
    this.onFault = opts.onFault;
    const every = opts.flushIntervalMs ?? 250;
    if (every > 0) {
      this.timer = setInterval(() => this.flush(), every);
      this.timer.unref();
    }
  }

  /**
   * Connects, applies pending migrations (refusing a newer schema) and loads detection's state.
   * Failures give a `PgStoreOpenError` naming the server (password redacted); nothing stays open.
   */
  static async open(url: string, opts: PgStoreOptions = {}): Promise<PgStore> {
    const where = redactUrl(url);
    // bounded waits: a server that stops answering is a fault (retried), never a hang of the commit chain
    const pool = new pg.Pool({
      connectionString: url, max: POOL_MAX, types: TYPES, connectionTimeoutMillis: 10_000, query_timeout: 60_000, keepAlive: true,
    });
    // an idle connection that breaks (server restart) is replaced on next use; never crash on it
    pool.on('error', () => undefined);
    try {
      const c = await pool.connect();
      try {
        await migratePg(c);
      } finally {
        c.release();
      }
      const store = new PgStore(pool, where, opts);
      await store.load();
      return store;
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new PgStoreOpenError(where, err);
    }
  }

  private async load(): Promise<void> {
    const q = <R extends pg.QueryResultRow>(sql: string): Promise<R[]> => this.pool.query<R>(sql).then((r) => r.rows);
    for (const r of await q<{ id: string; tenant: string; heuristic: Heuristic; status: AlertStatus; dedup_key: string; bin_hash: string | null; first_seen_us: number; last_seen_us: number; alert_json: string }>(
      'SELECT id, tenant, heuristic, status, dedup_key, bin_hash, first_seen_us, last_seen_us, alert_json FROM alerts',
    )) {
      this.remember(r.id, {
        tenant: r.tenant, key: r.dedup_key, binHash: r.bin_hash ?? undefined, heuristic: r.heuristic, status: r.status,
        firstSeenUs: r.first_seen_us, lastSeenUs: r.last_seen_us, json: r.alert_json,
      });
    }
    for (const r of await q<{ scope: string; obs_id: string; ts_us: number }>('SELECT scope, obs_id, ts_us FROM contributions')) {
      this.contributions.set(k2(r.scope, r.obs_id), r.ts_us);
    }
    this.allow = this.allowMap(await q<AllowRow>('SELECT * FROM allowlist ORDER BY id'));
    for (const r of await q<CandRow>('SELECT * FROM candidates')) {
      const c = candidate(r);
      this.candidates.set(`${r.tenant}\0${r.process_name}\0${r.provider}`, {
        category: c.category, devices: c.devices, deviceCount: c.deviceCount, count: c.count, first: c.firstSeenUs, last: c.lastSeenUs, status: c.status, id: c.id,
      });
    }
    for (const r of await q<{ tenant: string; hash: string; first_seen_us: number; source: string }>('SELECT * FROM inventory')) {
      this.inventory.set(k2(r.tenant, r.hash), { first: r.first_seen_us, source: r.source });
    }
    for (const r of await q<{ tenant: string; device: string; process: string; provider: string; first_seen_us: number }>('SELECT * FROM first_seen')) {
      this.pairs.set(`${r.tenant}\0${r.device}\0${r.process}\0${r.provider}`, r.first_seen_us);
    }
    for (const r of await q<{ tenant: string; process_name: string; lineage_hash: string; first_seen_us: number }>('SELECT * FROM lineage')) {
      const key = k2(r.tenant, r.process_name);
      let m = this.lineage.get(key);
      if (m === undefined) this.lineage.set(key, (m = new Map()));
      m.set(r.lineage_hash, r.first_seen_us);
    }
    for (const r of await q<{ tenant: string; first_obs_us: number }>('SELECT * FROM tenant_state')) this.tenantFirst.set(r.tenant, r.first_obs_us);
  }

  private allowMap(rows: AllowRow[]): Map<string, AllowlistEntry[]> {
    const m = new Map<string, AllowlistEntry[]>();
    for (const r of rows) {
      const key = k2(r.tenant, r.process_name);
      let list = m.get(key);
      if (list === undefined) m.set(key, (list = []));
      list.push(allowEntry(r));
    }
    return m;
  }

  private remember(id: string, m: MemAlert): void {
    const old = this.alerts.get(id);
    if (old !== undefined) this.unindex(id, old);
    this.alerts.set(id, m);
    addTo(this.alertsByKey, k2(m.tenant, m.key), id);
    if (m.binHash !== undefined) addTo(this.alertsByHash, k2(m.tenant, m.binHash), id);
  }

  private forget(id: string): void {
    const old = this.alerts.get(id);
    if (old === undefined) return;
    this.unindex(id, old);
    this.alerts.delete(id);
  }

  /** Takes an alert out of the dedup-key and binary-hash indexes. */
  private unindex(id: string, old: MemAlert): void {
    removeFrom(this.alertsByKey, k2(old.tenant, old.key), id);
    if (old.binHash !== undefined) removeFrom(this.alertsByHash, k2(old.tenant, old.binHash), id);
  }

  // ───────────── the queue ─────────────

  private push(op: Op): void {
    if (this.closed) throw new Error('store is closed');
    this.queue.push(op);
    if (this.fault !== undefined) {
      this.queuedTotal++;
      this.fault.writes++;
      if (this.queue.length > this.queueMax) this.shed();
    } else if (this.queue.length >= this.batchSize) {
      this.flush();
    }
  }

  /** Over the bound: drops the oldest tenth of the queue's non-alert writes (alerts when nothing else is left). */
  private shed(): void {
    const excess = Math.max(this.queue.length - this.queueMax, Math.ceil(this.queueMax / 10));
    let left = excess;
    const keep: Op[] = [];
    for (const op of this.queue) {
      if (left > 0 && kindOf(op) !== 'alert' && op.t !== 'retention') {
        this.dropped[kindOf(op)]++;
        left--;
      } else {
        keep.push(op);
      }
    }
    while (left > 0 && keep.length > this.queueMax) {
      const op = keep.shift()!;
      this.dropped[kindOf(op)]++;
      left--;
    }
    this.queue = keep;
  }

  private runHooks(): void {
    for (const fn of this.beforeCommit) {
      try {
        fn();
      } catch {
        this.errorCount++;
      }
    }
  }

  /** Runs `body` after every earlier job on the chain. */
  private exclusive<T>(body: () => Promise<T>): Promise<T> {
    const p = this.chain.then(body);
    this.chain = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  /**
   * Commits every write made so far (the before-commit hooks run first). Resolves when they, and
   * everything before them, are committed; rejects while the database cannot take them (they
   * stay queued). Concurrent calls share one transaction.
   */
  commit(): Promise<void> {
    if (this.waiting !== undefined) return this.waiting;
    const p = this.exclusive(async () => {
      this.waiting = undefined;
      await this.writeQueued();
    });
    this.waiting = p;
    return p;
  }

  /** Starts a commit (detect's timer, batch size, ticks); never throws. */
  flush(): void {
    if (this.closed) return;
    if (this.fault !== undefined && Date.now() - this.lastAttemptMs < this.retryMs) return;
    this.commit().catch(() => undefined);
  }

  /**
   * One or more transactions: the queue (in chunks of MAX_TX_OPS), the last one also running
   * `extra` before it commits. On a fault the unwritten operations go back to the queue's head.
   */
  private async writeQueued<T>(extra?: (c: pg.PoolClient) => Promise<T>): Promise<T | undefined> {
    this.runHooks();
    let ops = this.queue;
    this.queue = [];
    if (ops.length === 0 && extra === undefined) return undefined;
    this.lastAttemptMs = Date.now();
    let client: pg.PoolClient | undefined;
    let broken = false;
    try {
      client = await this.pool.connect();
      if (this.uncertain !== undefined) {
        // did the transaction whose COMMIT went unanswered commit? then its operations are done
        const u = this.uncertain;
        const r = await client.query('SELECT 1 FROM llmtap_commits WHERE token = $1', [u.token]);
        if (r.rowCount === 1) {
          ops = ops.filter((op) => !u.ops.has(op));
          this.lastToken = u.token;
        }
        this.uncertain = undefined;
        if (ops.length === 0 && extra === undefined) {
          this.cleared();
          return undefined;
        }
      }
      for (;;) {
        const chunk = ops.length > MAX_TX_OPS ? ops.slice(0, MAX_TX_OPS) : ops;
        const last = chunk.length === ops.length;
        const token = randomUUID();
        await client.query('BEGIN');
        let committing = false;
        try {
          await this.applyAll(client, chunk);
          const out = last && extra !== undefined ? await extra(client) : undefined;
          await client.query('INSERT INTO llmtap_commits (token) VALUES ($1)', [token]);
          if (this.lastToken !== undefined) await client.query('DELETE FROM llmtap_commits WHERE token = $1', [this.lastToken]);
          committing = true;
          await client.query('COMMIT');
          this.lastToken = token;
          ops = ops.slice(chunk.length);
          if (last) {
            this.cleared();
            return out;
          }
        } catch (err) {
          if (committing) this.uncertain = { token, ops: new Set(chunk) };
          await client.query('ROLLBACK').catch(() => {
            broken = true;
          });
          throw err;
        }
      }
    } catch (err) {
      this.queue = ops.length > 0 ? [...ops, ...this.queue] : this.queue;
      const reason = pgFaultReasonOf(err);
      if (reason !== undefined) {
        broken = true;
        this.enterFault(reason, err);
        throw new PgStoreFaultError(this.where, reason, err instanceof Error ? err.message : String(err));
      }
      this.errorCount++;
      throw err;
    } finally {
      client?.release(broken ? true : undefined);
    }
  }

  /**
   * Applies operations inside the open transaction. A batch the server rejects for its data (not
   * a fault) is retried one operation at a time under savepoints; an operation that still fails
   * is dropped and counted in `errors()`.
   */
  private async applyAll(c: pg.PoolClient, ops: Op[]): Promise<void> {
    if (ops.length === 0) return;
    await c.query('SAVEPOINT batch');
    try {
      await this.apply(c, ops);
      await c.query('RELEASE SAVEPOINT batch');
      return;
    } catch (err) {
      if (pgFaultReasonOf(err) !== undefined) throw err;
      await c.query('ROLLBACK TO SAVEPOINT batch');
    }
    for (const op of ops) {
      await c.query('SAVEPOINT one');
      try {
        await this.apply(c, [op]);
        await c.query('RELEASE SAVEPOINT one');
      } catch (err) {
        if (pgFaultReasonOf(err) !== undefined) throw err;
        await c.query('ROLLBACK TO SAVEPOINT one');
        this.errorCount++;
      }
    }
  }

  private enterFault(reason: FaultReason, err: unknown): void {
    const code = String((err as { code?: unknown }).code ?? 'PG_ERROR');
    const message = err instanceof Error ? err.message : String(err);
    if (this.fault === undefined) {
      // the failed batch's writes (now back in the queue) are the episode's first queued writes
      this.queuedTotal += this.queue.length;
      this.fault = { reason, code, message, sinceMs: Date.now(), writes: this.queue.length, dropped0: sumCounts(this.dropped) };
      this.episodes[reason] = (this.episodes[reason] ?? 0) + 1;
      this.onFault?.({ state: 'started', path: this.where, reason, code, message });
    } else {
      Object.assign(this.fault, { reason, code, message });
    }
    if (this.queue.length > this.queueMax) this.shed();
  }

  private cleared(): void {
    const f = this.fault;
    if (f === undefined) return;
    this.fault = undefined;
    this.onFault?.({
      state: 'cleared', path: this.where, reason: f.reason, writes: f.writes,
      dropped: sumCounts(this.dropped) - f.dropped0, seconds: Math.round((Date.now() - f.sinceMs) / 100) / 10,
    });
  }

  /** Writes a list of operations; retention operations split it, so order across them holds. */
  private async apply(c: pg.PoolClient, ops: Op[]): Promise<void> {
    let seg: Op[] = [];
    for (const op of ops) {
      if (op.t === 'retention') {
        await this.applySegment(c, seg);
        seg = [];
        await this.applyRetention(c, op);
      } else {
        seg.push(op);
      }
    }
    await this.applySegment(c, seg);
  }

  /** Reserves `counts` numbers per tenant from a counter table, tenants in sorted order (no
   * deadlock between two writers); returns each tenant's first reserved number. */
  private async reserve(c: pg.PoolClient, table: 'alert_seq' | 'obs_seq', counts: Map<string, number>): Promise<Map<string, number>> {
    const tenants = [...counts.keys()].sort();
    const r = await c.query<{ tenant: string; last: number }>(
      `INSERT INTO ${table} AS s (tenant, last) SELECT t, n FROM unnest($1::text[], $2::bigint[]) AS u(t, n)
       ON CONFLICT (tenant) DO UPDATE SET last = s.last + excluded.last RETURNING tenant, last`,
      [tenants, tenants.map((t) => counts.get(t)!)],
    );
    const first = new Map<string, number>();
    for (const row of r.rows) first.set(row.tenant, row.last - counts.get(row.tenant)! + 1);
    return first;
  }

  private async applySegment(c: pg.PoolClient, ops: Op[]): Promise<void> {
    if (ops.length === 0) return;
    const alerts: Extract<Op, { t: 'alert' }>[] = [];
    const obs: Extract<Op, { t: 'obs' }>[] = [];
    const contrib = new Map<string, Extract<Op, { t: 'contrib' }>>();
    const cands = new Map<string, Extract<Op, { t: 'cand' }>>();
    const inv = new Map<string, Extract<Op, { t: 'inv' }>>();
    const pairs = new Map<string, Extract<Op, { t: 'pair' }>>();
    const lins = new Map<string, Extract<Op, { t: 'lin' }>>();
    const tens = new Map<string, Extract<Op, { t: 'ten' }>>();
    const keepMin = <O extends { first: number }>(m: Map<string, O>, key: string, op: O): void => {
      const had = m.get(key);
      if (had === undefined || op.first < had.first) m.set(key, op);
    };
    for (const op of ops) {
      switch (op.t) {
        case 'alert': alerts.push(op); break;
        case 'obs': obs.push(op); break;
        case 'contrib': contrib.set(k2(op.scope, op.obsId), op); break;
        case 'cand': cands.set(`${op.tenant}\0${op.name}\0${op.provider}`, op); break; // full state: the last wins
        case 'inv': keepMin(inv, k2(op.tenant, op.hash), op); break;
        case 'pair': keepMin(pairs, `${op.tenant}\0${op.device}\0${op.process}\0${op.provider}`, op); break;
        case 'lin': keepMin(lins, `${op.tenant}\0${op.process}\0${op.hash}`, op); break;
        case 'ten': keepMin(tens, op.tenant, op); break;
        default: break;
      }
    }
    // counters first (their row locks order this tenant's writers), then the rows
    const countBy = <O extends { tenant: string }>(list: O[]): Map<string, number> => {
      const m = new Map<string, number>();
      for (const o of list) m.set(o.tenant, (m.get(o.tenant) ?? 0) + 1);
      return m;
    };
    const alertFirst = alerts.length > 0 ? await this.reserve(c, 'alert_seq', countBy(alerts)) : new Map<string, number>();
    const obsFirst = obs.length > 0 ? await this.reserve(c, 'obs_seq', countBy(obs)) : new Map<string, number>();

    if (alerts.length > 0) {
      const next = new Map(alertFirst);
      const changes = alerts.map((a) => {
        const seq = next.get(a.tenant)!;
        next.set(a.tenant, seq + 1);
        return { tenant: a.tenant, tenant_seq: seq, alert_id: a.id, heuristic: a.heuristic, severity: a.severity, alert_json: a.json };
      });
      await c.query(
        `INSERT INTO alert_changes (tenant, tenant_seq, alert_id, heuristic, severity, alert_json)
         SELECT tenant, tenant_seq, alert_id, heuristic, severity, alert_json FROM json_populate_recordset(NULL::alert_changes, $1::json)`,
        [JSON.stringify(changes)],
      );
      // the current state of each alert: its last write in this batch, with that write's seq
      const latest = new Map<string, object>();
      alerts.forEach((a, i) => {
        latest.set(a.id, {
          id: a.id, tenant: a.tenant, heuristic: a.heuristic, severity: a.severity, status: a.status, dedup_key: a.key,
          bin_hash: a.binHash, first_seen_us: a.first, last_seen_us: a.last, seq: changes[i]!.tenant_seq, alert_json: a.json,
        });
      });
      await c.query(
        `INSERT INTO alerts AS a SELECT * FROM json_populate_recordset(NULL::alerts, $1::json)
         ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, status = excluded.status, dedup_key = excluded.dedup_key,
           bin_hash = excluded.bin_hash, first_seen_us = excluded.first_seen_us, last_seen_us = excluded.last_seen_us,
           seq = excluded.seq, alert_json = excluded.alert_json
         WHERE a.tenant = excluded.tenant`,
        [JSON.stringify([...latest.values()])],
      );
    }

    if (obs.length > 0) await this.writeObservations(c, obs, obsFirst);

    if (contrib.size > 0) {
      const list = [...contrib.values()];
      await c.query(
        `INSERT INTO contributions (scope, obs_id, ts_us) SELECT * FROM unnest($1::text[], $2::text[], $3::float8[])
         ON CONFLICT DO NOTHING`,
        [list.map((x) => x.scope), list.map((x) => x.obsId), list.map((x) => x.tsUs)],
      );
    }
    if (cands.size > 0) {
      const list = [...cands.values()].map((x) => ({
        tenant: x.tenant, process_name: x.name, provider: x.provider, category: x.category, devices: x.devices,
        device_count: x.deviceCount, count: x.count, first_seen_us: x.first, last_seen_us: x.last, status: 'pending',
      }));
      await c.query(
        `INSERT INTO candidates AS c (tenant, process_name, provider, category, devices, device_count, count, first_seen_us, last_seen_us, status)
         SELECT tenant, process_name, provider, category, devices, device_count, count, first_seen_us, last_seen_us, status
           FROM json_populate_recordset(NULL::candidates, $1::json)
         ON CONFLICT (tenant, process_name, provider) DO UPDATE SET devices = excluded.devices, device_count = excluded.device_count,
           count = excluded.count, first_seen_us = excluded.first_seen_us, last_seen_us = excluded.last_seen_us`,
        [JSON.stringify(list)],
      );
    }
    if (inv.size > 0) {
      const l = [...inv.values()];
      await c.query(
        `INSERT INTO inventory AS i (tenant, hash, first_seen_us, source) SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[])
         ON CONFLICT (tenant, hash) DO UPDATE SET first_seen_us = LEAST(i.first_seen_us, excluded.first_seen_us),
           source = CASE WHEN excluded.first_seen_us < i.first_seen_us THEN excluded.source ELSE i.source END`,
        [l.map((x) => x.tenant), l.map((x) => x.hash), l.map((x) => x.first), l.map((x) => x.source)],
      );
    }
    if (pairs.size > 0) {
      const l = [...pairs.values()];
      await c.query(
        `INSERT INTO first_seen AS f (tenant, device, process, provider, first_seen_us)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[])
         ON CONFLICT (tenant, device, process, provider) DO UPDATE SET first_seen_us = LEAST(f.first_seen_us, excluded.first_seen_us)`,
        [l.map((x) => x.tenant), l.map((x) => x.device), l.map((x) => x.process), l.map((x) => x.provider), l.map((x) => x.first)],
      );
    }
    if (lins.size > 0) {
      const l = [...lins.values()];
      await c.query(
        `INSERT INTO lineage AS l (tenant, process_name, lineage_hash, first_seen_us) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[])
         ON CONFLICT (tenant, process_name, lineage_hash) DO UPDATE SET first_seen_us = LEAST(l.first_seen_us, excluded.first_seen_us)`,
        [l.map((x) => x.tenant), l.map((x) => x.process), l.map((x) => x.hash), l.map((x) => x.first)],
      );
    }
    if (tens.size > 0) {
      const l = [...tens.values()];
      await c.query(
        `INSERT INTO tenant_state AS s (tenant, first_obs_us) SELECT * FROM unnest($1::text[], $2::float8[])
         ON CONFLICT (tenant) DO UPDATE SET first_obs_us = LEAST(s.first_obs_us, excluded.first_obs_us)`,
        [l.map((x) => x.tenant), l.map((x) => x.first)],
      );
    }
  }

  /**
   * Observation upserts: each write takes its tenant's next number (as in SQLite, where an update
   * re-inserts the row), the row keeps the last one; h1 once set stays set; h1_daily counts a
   * row once, on its first insert's day, and its h1 once when it turns on.
   */
  private async writeObservations(c: pg.PoolClient, obs: Extract<Op, { t: 'obs' }>[], first: Map<string, number>): Promise<void> {
    const next = new Map(first);
    const rows = new Map<string, { row: Record<string, unknown>; h1: boolean; firstTs: number; tenant: string }>();
    for (const o of obs) {
      const seq = next.get(o.tenant)!;
      next.set(o.tenant, seq + 1);
      const had = rows.get(o.row.obs_id);
      rows.set(o.row.obs_id, { row: { ...o.row, tenant_seq: seq }, h1: (had?.h1 ?? false) || o.h1, firstTs: had?.firstTs ?? o.row.ts_us, tenant: o.tenant });
    }
    const ids = [...rows.keys()];
    const prev = new Map<string, { h1: boolean; ts_us: number }>();
    for (const r of (await c.query<{ obs_id: string; h1: boolean; ts_us: number }>('SELECT obs_id, h1, ts_us FROM observations WHERE obs_id = ANY($1::text[]) FOR UPDATE', [ids])).rows) {
      prev.set(r.obs_id, r);
    }
    const daily = new Map<string, { tenant: string; day: string; h1: number; n: number }>();
    const count = (tenant: string, tsUs: number, h1: number, n: number): void => {
      const day = utcDay(tsUs);
      const key = k2(tenant, day);
      const d = daily.get(key) ?? { tenant, day, h1: 0, n: 0 };
      d.h1 += h1;
      d.n += n;
      daily.set(key, d);
    };
    const out: Record<string, unknown>[] = [];
    for (const [id, r] of rows) {
      const before = prev.get(id);
      const h1 = (before?.h1 ?? false) || r.h1;
      out.push({ ...r.row, h1 });
      if (before === undefined) count(r.tenant, r.firstTs, h1 ? 1 : 0, 1);
      else if (!before.h1 && h1) count(r.tenant, before.ts_us, 1, 0);
    }
    const cols = OBS_COLS.join(', ');
    await c.query(
      `INSERT INTO observations (${cols}) SELECT ${cols} FROM json_populate_recordset(NULL::observations, $1::json)
       ON CONFLICT (obs_id) DO UPDATE SET ${OBS_COLS.filter((x) => x !== 'obs_id').map((x) => `${x} = excluded.${x}`).join(', ')}`,
      [JSON.stringify(out)],
    );
    if (daily.size > 0) {
      const l = [...daily.values()];
      await c.query(
        `INSERT INTO h1_daily AS d (tenant, day, h1, observations) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
         ON CONFLICT (tenant, day) DO UPDATE SET h1 = d.h1 + excluded.h1, observations = d.observations + excluded.observations`,
        [l.map((x) => x.tenant), l.map((x) => x.day), l.map((x) => x.h1), l.map((x) => x.n)],
      );
    }
  }

  private async applyRetention(c: pg.PoolClient, op: Extract<Op, { t: 'retention' }>): Promise<void> {
    for (const [tenant, cutoff] of op.alertCutoffs) {
      await c.query('DELETE FROM alert_changes WHERE alert_id IN (SELECT id FROM alerts WHERE tenant = $1 AND last_seen_us < $2)', [tenant, cutoff]);
      await c.query('DELETE FROM contributions WHERE scope IN (SELECT id FROM alerts WHERE tenant = $1 AND last_seen_us < $2)', [tenant, cutoff]);
      await c.query('DELETE FROM alerts WHERE tenant = $1 AND last_seen_us < $2', [tenant, cutoff]);
    }
    await c.query('DELETE FROM observations WHERE ts_us < $1', [op.obsCutoff]);
    await c.query("DELETE FROM contributions WHERE scope LIKE 'cand:%' AND ts_us < $1", [op.obsCutoff]);
  }

  onBeforeCommit(fn: () => void): void {
    this.beforeCommit.push(fn);
  }

  // ───────────── detect: synchronous, from memory ─────────────

  upsertAlert(a: Alert, dedupKey?: string): Alert {
    const prev = this.alerts.get(a.id);
    if (prev !== undefined && prev.tenant !== a.tenant) throw new Error(`alert id ${a.id} belongs to another tenant`);
    const json = bodyOf(a);
    const binHash = alertBinHash(a);
    const key = dedupKey ?? prev?.key ?? alertKeyOf(a, binHash);
    this.remember(a.id, { tenant: a.tenant, key, binHash, heuristic: a.heuristic, status: a.status, firstSeenUs: a.firstSeenUs, lastSeenUs: a.lastSeenUs, json });
    this.push({
      t: 'alert', tenant: a.tenant, id: a.id, heuristic: a.heuristic, severity: a.severity, status: a.status, key,
      binHash: binHash ?? null, first: a.firstSeenUs, last: a.lastSeenUs, json,
    });
    const { seq: _seq, ...rest } = a;
    return { ...rest, change: prev !== undefined ? 'update' : 'create' };
  }

  openAlertByKey(tenant: string, dedupKey: string): Alert | undefined {
    let best: MemAlert | undefined;
    for (const id of this.alertsByKey.get(k2(tenant, dedupKey)) ?? []) {
      const m = this.alerts.get(id)!;
      if (m.status === 'closed') continue;
      if (best === undefined || m.firstSeenUs > best.firstSeenUs) best = m;
    }
    return best === undefined ? undefined : (JSON.parse(best.json) as Alert);
  }

  peekAlert(tenant: string, id: string): Alert | undefined {
    const m = this.alerts.get(id);
    return m === undefined || m.tenant !== tenant ? undefined : (JSON.parse(m.json) as Alert);
  }

  alertIdsByHash(tenant: string, hash: string, heuristic: Heuristic, limit = 50): string[] {
    const out: { id: string; f: number }[] = [];
    for (const id of this.alertsByHash.get(k2(tenant, hash)) ?? []) {
      const m = this.alerts.get(id)!;
      if (m.heuristic === heuristic) out.push({ id, f: m.firstSeenUs });
    }
    return out.sort((x, y) => x.f - y.f).slice(0, limit).map((x) => x.id);
  }

  contribute(scope: string, obsId: string, tsUs: number): boolean {
    const key = k2(scope, obsId);
    if (this.contributions.has(key)) return false;
    this.contributions.set(key, tsUs);
    this.push({ t: 'contrib', scope, obsId, tsUs });
    return true;
  }

  hasContributed(scope: string, obsId: string): boolean {
    return this.contributions.has(k2(scope, obsId));
  }

  /** AI observations only (a verdict is required); upsert by obsId. */
  insertObservation(o: Observation, marks: ObservationMarks = {}): void {
    const v = o.verdict;
    if (!v) return;
    this.push({
      t: 'obs',
      tenant: o.tenant,
      h1: marks.h1 === true,
      row: { ...observationValues(o, v), obs_id: o.obsId, ts_us: o.tsUs },
    });
  }

  /** The first entry that matches every pin it has (the SQLite store's rules). */
  isAllowlisted(tenant: string, q: AllowQuery): AllowlistEntry | undefined {
    const e = this.allow.get(k2(tenant, q.processName.toLowerCase()))?.find((x) => allowMatches(x, q));
    return e !== undefined ? { ...e } : undefined;
  }

  /** Counts a sighting once per obsId; returns the candidate after the update (its id once committed). */
  upsertCandidate(tenant: string, s: CandidateSighting): Candidate {
    const name = s.processName.toLowerCase();
    const key = `${tenant}\0${name}\0${s.provider}`;
    let m = this.candidates.get(key);
    const scope = `cand:${tenant}:${name}:${s.provider}`;
    if (m === undefined) {
      m = { category: s.category, devices: [s.deviceId], deviceCount: 1, count: 1, first: s.tsUs, last: s.tsUs, status: 'pending', id: undefined };
      this.candidates.set(key, m);
      this.contribute(scope, s.obsId, s.tsUs);
    } else {
      if (!this.contribute(scope, s.obsId, s.tsUs)) return this.candidateOf(tenant, name, s.provider, m);
      if (!m.devices.includes(s.deviceId) && m.devices.length < CANDIDATE_MAX_DEVICES) m.devices.push(s.deviceId);
      m.deviceCount = Math.max(m.deviceCount, m.devices.length);
      m.count++;
      m.first = Math.min(m.first, s.tsUs);
      m.last = Math.max(m.last, s.tsUs);
    }
    this.push({ t: 'cand', tenant, name, provider: s.provider, category: m.category, devices: JSON.stringify(m.devices), deviceCount: m.deviceCount, count: m.count, first: m.first, last: m.last });
    return this.candidateOf(tenant, name, s.provider, m);
  }

  private candidateOf(tenant: string, name: string, provider: string, m: MemCandidate): Candidate {
    return {
      id: m.id ?? 0, tenant, processName: name, provider, category: m.category as Candidate['category'], devices: [...m.devices],
      deviceCount: m.deviceCount, count: m.count, firstSeenUs: m.first, lastSeenUs: m.last, status: m.status,
    };
  }

  inventoryFirstSeen(tenant: string, hash: string): number | undefined {
    return this.inventory.get(k2(tenant, hash.toLowerCase()))?.first;
  }

  inventoryHas(tenant: string, hash: string, beforeUs = Number.POSITIVE_INFINITY): boolean {
    const f = this.inventoryFirstSeen(tenant, hash);
    return f !== undefined && f <= beforeUs;
  }

  addInventory(tenant: string, hash: string, firstSeenUs: number, source = 'edr'): void {
    const h = hash.toLowerCase();
    const key = k2(tenant, h);
    const had = this.inventory.get(key);
    if (had === undefined || firstSeenUs < had.first) this.inventory.set(key, { first: firstSeenUs, source });
    this.push({ t: 'inv', tenant, hash: h, first: firstSeenUs, source });
  }

  pairFirstSeen(tenant: string, device: string, process: string, provider: string): number | undefined {
    return this.pairs.get(`${tenant}\0${device}\0${process.toLowerCase()}\0${provider}`);
  }

  addPairFirstSeen(tenant: string, device: string, process: string, provider: string, tsUs: number): void {
    const p = process.toLowerCase();
    const key = `${tenant}\0${device}\0${p}\0${provider}`;
    const had = this.pairs.get(key);
    if (had === undefined || tsUs < had) this.pairs.set(key, tsUs);
    this.push({ t: 'pair', tenant, device, process: p, provider, first: tsUs });
  }

  lineages(tenant: string, processName: string): Map<string, number> {
    return new Map(this.lineage.get(k2(tenant, processName.toLowerCase())));
  }

  addLineage(tenant: string, processName: string, lineageHash: string, tsUs: number): void {
    const p = processName.toLowerCase();
    const key = k2(tenant, p);
    let m = this.lineage.get(key);
    if (m === undefined) this.lineage.set(key, (m = new Map()));
    const had = m.get(lineageHash);
    if (had === undefined || tsUs < had) m.set(lineageHash, tsUs);
    this.push({ t: 'lin', tenant, process: p, hash: lineageHash, first: tsUs });
  }

  tenantFirstObs(tenant: string): number | undefined {
    return this.tenantFirst.get(tenant);
  }

  setTenantFirstObs(tenant: string, tsUs: number): void {
    const had = this.tenantFirst.get(tenant);
    if (had === undefined || tsUs < had) this.tenantFirst.set(tenant, tsUs);
    this.push({ t: 'ten', tenant, first: tsUs });
  }

  /**
   * Drops alerts not seen for their tenant's TTL (with their contributions) and candidate
   * contributions past `retentionHours` from memory at once, and queues the same deletes (and
   * the observations') for the next commit. Returns the rows dropped from memory (observations
   * are counted by the database only).
   */
  runRetention(nowMs: number, alertTtlHours: Record<string, number> = {}): number {
    const nowUs = nowMs * 1000;
    const tenants = new Set<string>();
    for (const m of this.alerts.values()) tenants.add(m.tenant);
    const cutoffs: [string, number][] = [...tenants].sort().map((t) => [t, nowUs - (alertTtlHours[t] ?? this.retentionHours) * US_PER_HOUR]);
    const cutoffOf = new Map(cutoffs);
    const obsCutoff = nowUs - this.retentionHours * US_PER_HOUR;
    const gone = new Set<string>();
    for (const [id, m] of this.alerts) if (m.lastSeenUs < cutoffOf.get(m.tenant)!) gone.add(id);
    let n = 0;
    for (const id of gone) {
      this.forget(id);
      n++;
    }
    for (const [key, ts] of this.contributions) {
      const scope = key.slice(0, key.indexOf('\0'));
      if (gone.has(scope) || (scope.startsWith('cand:') && ts < obsCutoff)) {
        this.contributions.delete(key);
        n++;
      }
    }
    this.push({ t: 'retention', alertCutoffs: cutoffs, obsCutoff });
    return n;
  }

  // ───────────── API: asynchronous, from the database ─────────────

  /** Reads see committed data only: the writes made so far are committed first (when the
   * database takes them; a read during a fault shows what is committed). */
  private async read<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('store is closed');
    await this.commit().catch(() => undefined);
    try {
      return await fn();
    } catch (err) {
      // the server is unreachable: the API answers 503 (store unavailable), not an internal error
      const reason = pgFaultReasonOf(err);
      if (reason !== undefined) throw new PgStoreFaultError(this.where, reason, err instanceof Error ? err.message : String(err));
      throw err;
    }
  }

  /** An API write: the queue and `extra` in one transaction, on the chain. */
  private write<T>(extra: (c: pg.PoolClient) => Promise<T>, before?: () => boolean): Promise<T | undefined> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    return this.exclusive(async () => {
      this.runHooks();
      if (before !== undefined && !before()) return undefined;
      return this.writeQueued(extra);
    });
  }

  async listAlertChanges(tenant: string, q: { afterSeq: number; limit: number; severity?: Severity; heuristic?: Heuristic }): Promise<Alert[]> {
    return this.read(async () => {
      const r = await this.pool.query<{ seq: number; body: string; first: boolean }>(
        `SELECT c.tenant_seq AS seq, c.alert_json AS body,
           c.tenant_seq = (SELECT min(p.tenant_seq) FROM alert_changes p WHERE p.alert_id = c.alert_id) AS first
         FROM alert_changes c WHERE c.tenant = $1 AND c.tenant_seq > $2
           AND ($3::text IS NULL OR c.severity = $3) AND ($4::text IS NULL OR c.heuristic = $4)
         ORDER BY c.tenant_seq LIMIT $5`,
        [tenant, q.afterSeq, q.severity ?? null, q.heuristic ?? null, Math.max(0, Math.min(q.limit, 10_000))],
      );
      return r.rows.map((row) => ({ ...(JSON.parse(row.body) as Alert), seq: row.seq, change: row.first ? 'create' : 'update' }));
    });
  }

  /** The tenant's newest change seq (0 when it has none): where a follower starts. */
  async lastAlertSeq(tenant: string): Promise<number> {
    return this.read(async () => (await this.pool.query<{ last: number }>('SELECT last FROM alert_seq WHERE tenant = $1', [tenant])).rows[0]?.last ?? 0);
  }

  /** Where push output `output` stands, per tenant (the seq of the last change it delivered); empty when it never ran. */
  async outputPositions(output: string): Promise<Map<string, number>> {
    return this.read(async () => {
      const r = await this.pool.query<{ tenant: string; seq: string }>('SELECT tenant, seq FROM output_positions WHERE output = $1', [output]);
      return new Map(r.rows.map((row) => [row.tenant, Number(row.seq)]));
    });
  }

  /** Records where push output `output` stands; a position never moves back. */
  async saveOutputPositions(output: string, positions: ReadonlyMap<string, number>): Promise<void> {
    if (this.closed) throw new Error('store is closed');
    if (positions.size === 0) return;
    await this.pool.query(
      `INSERT INTO output_positions (output, tenant, seq)
       SELECT $1, u.tenant, u.seq FROM unnest($2::text[], $3::bigint[]) AS u(tenant, seq)
       ON CONFLICT (output, tenant) DO UPDATE SET seq = GREATEST(output_positions.seq, EXCLUDED.seq), at = now()`,
      [output, [...positions.keys()], [...positions.values()]],
    );
  }

  private async alertRow(q: pg.ClientBase | pg.Pool, tenant: string, id: string): Promise<Alert | undefined> {
    const row = (await q.query<{ seq: number; body: string }>('SELECT seq, alert_json AS body FROM alerts WHERE tenant = $1 AND id = $2', [tenant, id])).rows[0];
    return row === undefined ? undefined : { ...(JSON.parse(row.body) as Alert), seq: row.seq };
  }

  async getAlert(tenant: string, id: string): Promise<Alert | undefined> {
    return this.read(() => this.alertRow(this.pool, tenant, id));
  }

  /** Sets the status (a new change); undefined when the id is not this tenant's. */
  async setAlertStatus(tenant: string, id: string, status: AlertStatus): Promise<Alert | undefined> {
    let change: Alert['change'];
    const out = await this.write(
      (c) => this.alertRow(c, tenant, id),
      () => {
        const m = this.alerts.get(id);
        if (m === undefined || m.tenant !== tenant) return false;
        if (m.status !== status) {
          this.upsertAlert({ ...(JSON.parse(m.json) as Alert), status });
          change = 'update';
        }
        return true;
      },
    );
    return out === undefined || change === undefined ? out : { ...out, change };
  }

  async listObservations(tenant: string, q: ObservationQuery): Promise<ObservationRow[]> {
    return this.read(async () => {
      const r = await this.pool.query<Row>(
        `SELECT ${OBS_COLS.map((c) => (OBS_BOOL.has(c) ? `${c}::int AS ${c}` : c)).join(', ')}
         FROM observations WHERE tenant = $1 AND tenant_seq > $2
           AND ($3::text IS NULL OR provider = $3) AND ($4::text IS NULL OR category = $4) AND ($5::text IS NULL OR device_id = $5)
         ORDER BY tenant_seq LIMIT $6`,
        [tenant, q.afterSeq, q.provider ?? null, q.category ?? null, q.deviceId ?? null, Math.max(0, Math.min(q.limit, 10_000))],
      );
      return r.rows.map(toRow);
    });
  }

  async listAllowlist(tenant: string): Promise<AllowlistEntry[]> {
    return this.read(async () => (await this.pool.query<AllowRow>('SELECT * FROM allowlist WHERE tenant = $1 ORDER BY id', [tenant])).rows.map(allowEntry));
  }

  private async insertAllow(c: pg.ClientBase, tenant: string, e: NewAllowlistEntry, nowMs: number, origin: AllowlistEntry['origin']): Promise<AllowlistEntry> {
    const r = await c.query<AllowRow>(
      `INSERT INTO allowlist (tenant, process_name, binary_hash, device_group, provider, category, justification, expires_at_ms, created_at_ms, origin)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
      [tenant, e.processName.toLowerCase(), e.binaryHash?.toLowerCase() ?? null, e.deviceGroup ?? null, e.provider ?? null, e.category ?? null,
        e.justification, e.expiresAtMs ?? null, nowMs, origin],
    );
    return allowEntry(r.rows[0]!);
  }

  /** Reads the whole allowlist again inside `c`'s transaction; installed in memory after it commits. */
  private async allowAfter(c: pg.ClientBase): Promise<Map<string, AllowlistEntry[]>> {
    return this.allowMap((await c.query<AllowRow>('SELECT * FROM allowlist ORDER BY id')).rows);
  }

  async addAllowlist(tenant: string, e: NewAllowlistEntry): Promise<AllowlistEntry> {
    const r = await this.write(async (c) => ({ entry: await this.insertAllow(c, tenant, e, Date.now(), 'manual'), all: await this.allowAfter(c) }));
    this.allow = r!.all;
    return r!.entry;
  }

  async removeAllowlist(tenant: string, id: number): Promise<boolean> {
    const r = await this.write(async (c) => ({ n: (await c.query('DELETE FROM allowlist WHERE tenant = $1 AND id = $2', [tenant, id])).rowCount ?? 0, all: await this.allowAfter(c) }));
    this.allow = r!.all;
    return r!.n > 0;
  }

  /** The config file's allowlist, applied in one transaction (same rules as `LearnedTables.replaceConfigAllowlist`). */
  async replaceConfigAllowlist(want: Array<{ tenant: string; entry: NewAllowlistEntry }>): Promise<{ added: number; removed: number; kept: number }> {
    const key = (tenant: string, e: NewAllowlistEntry): string =>
      JSON.stringify([tenant, e.processName.toLowerCase(), e.binaryHash?.toLowerCase() ?? null, e.deviceGroup ?? null, e.provider ?? null, e.category ?? null, e.justification, e.expiresAtMs ?? null]);
    const r = await this.write(async (c) => {
      const wanted = new Map<string, { tenant: string; entry: NewAllowlistEntry }>();
      for (const w of want) wanted.set(key(w.tenant, w.entry), w);
      let removed = 0;
      let kept = 0;
      const have = new Set<string>();
      const rows = (await c.query<AllowRow>("SELECT * FROM allowlist WHERE origin IN ('config', 'manual') ORDER BY id FOR UPDATE")).rows;
      for (const row of rows) {
        const k = key(row.tenant, allowEntry(row));
        if (wanted.has(k) && !have.has(k)) {
          have.add(k);
          kept++;
          if (row.origin !== 'config') await c.query("UPDATE allowlist SET origin = 'config' WHERE id = $1", [row.id]);
        } else if (row.origin === 'config') {
          removed += (await c.query('DELETE FROM allowlist WHERE id = $1', [row.id])).rowCount ?? 0;
        }
      }
      let added = 0;
      const now = Date.now();
      for (const [k, w] of wanted) {
        if (have.has(k)) continue;
        await this.insertAllow(c, w.tenant, w.entry, now, 'config');
        added++;
      }
      return { counts: { added, removed, kept }, all: await this.allowAfter(c) };
    });
    this.allow = r!.all;
    return r!.counts;
  }

  async listCandidates(tenant: string): Promise<Candidate[]> {
    return this.read(async () => (await this.pool.query<CandRow>('SELECT * FROM candidates WHERE tenant = $1 ORDER BY count DESC, id', [tenant])).rows.map(candidate));
  }

  /** Turns a candidate into an allowlist entry pinned to its provider. */
  async approveCandidate(tenant: string, id: number, justification: string): Promise<AllowlistEntry | undefined> {
    const r = await this.write(async (c) => {
      const row = (await c.query<{ process_name: string; provider: string }>(
        "UPDATE candidates SET status = 'approved' WHERE tenant = $1 AND id = $2 RETURNING process_name, provider", [tenant, id],
      )).rows[0];
      if (row === undefined) return undefined;
      const entry = await this.insertAllow(c, tenant, { processName: row.process_name, provider: row.provider, justification }, Date.now(), 'candidate');
      return { entry, all: await this.allowAfter(c), key: `${tenant}\0${row.process_name}\0${row.provider}` };
    });
    if (r === undefined) return undefined;
    this.allow = r.all;
    const m = this.candidates.get(r.key);
    if (m !== undefined) m.status = 'approved';
    return r.entry;
  }

  /** Adds hashes to the known inventory (first seen 0); returns how many were valid hex SHA-256/SHA-1 values. */
  async importInventory(tenant: string, hashes: string[], source: string): Promise<number> {
    const ok = hashes.filter((h) => /^([0-9a-f]{64}|[0-9a-f]{40})$/i.test(h));
    await this.write(async () => undefined, () => {
      for (const h of ok) this.addInventory(tenant, h, 0, source);
      return true;
    });
    return ok.length;
  }

  /** The tenant's usage summary over a window (same groups and order as src/store/usage.ts). */
  async usage(tenant: string, q: UsageQuery): Promise<UsageRow[]> {
    checkUsageQuery(q);
    const cols = q.group.map((d, i) => `${DIM_SQL[d]} AS g${i}`);
    const by = q.group.map((_, i) => `g${i}`);
    const sql = `SELECT ${[...cols, 'count(*) AS connections', 'min(ts_us) AS first_us', 'max(last_ts_us) AS last_us',
      'sum(bytes_out)::float8 AS bytes_out', 'sum(bytes_in)::float8 AS bytes_in', `count(DISTINCT ${DIM_SQL.destination}) AS destinations`].join(', ')}
      FROM observations WHERE tenant = $1 AND ts_us >= $2 AND ts_us < $3
      ${by.length > 0 ? `GROUP BY ${by.join(', ')}` : ''}
      ORDER BY connections DESC, bytes_out DESC${q.group.length > 0 ? `, ${q.group.map((d) => `${DIM_SQL[d]} COLLATE "C"`).join(', ')}` : ''} LIMIT $4`;
    return this.read(async () => {
      const rows = (await this.pool.query<Record<string, unknown>>(sql, [tenant, q.sinceUs, q.untilUs, Math.max(1, Math.min(q.limit, 100_000))])).rows;
      const out: UsageRow[] = [];
      for (const r of rows) {
        if (r['connections'] === 0) continue;
        const key: UsageRow['key'] = {};
        q.group.forEach((d, i) => {
          const v = r[`g${i}`];
          if (typeof v === 'string') key[d] = v;
        });
        out.push({
          key, connections: r['connections'] as number, firstSeenUs: r['first_us'] as number, lastSeenUs: r['last_us'] as number,
          bytesSent: r['bytes_out'] as number, bytesReceived: r['bytes_in'] as number, distinctDestinations: r['destinations'] as number,
        });
      }
      return out;
    });
  }

  /** Tenants that have stored observations. */
  async observationTenants(): Promise<string[]> {
    return this.read(async () => (await this.pool.query<{ tenant: string }>('SELECT DISTINCT tenant COLLATE "C" AS tenant FROM observations ORDER BY 1')).rows.map((r) => r.tenant));
  }

  async observationSpan(tenant: string): Promise<{ firstUs: number; lastUs: number } | undefined> {
    return this.read(async () => {
      const r = (await this.pool.query<{ f: number | null; l: number | null }>('SELECT min(ts_us) AS f, max(ts_us) AS l FROM observations WHERE tenant = $1', [tenant])).rows[0];
      return r?.f == null || r.l == null ? undefined : { firstUs: r.f, lastUs: r.l };
    });
  }

  async h1RatePerDay(tenant: string): Promise<{ day: string; h1: number; observations: number }[]> {
    return this.read(async () => (await this.pool.query<{ day: string; h1: number; observations: number }>(
      'SELECT day, h1, observations FROM h1_daily WHERE tenant = $1 ORDER BY day', [tenant],
    )).rows);
  }

  // ───────────── housekeeping ─────────────

  errors(): number {
    return this.errorCount;
  }

  /** False when closed or while a fault lasts. */
  writable(): boolean {
    return !this.closed && this.fault === undefined;
  }

  status(): StoreStatus {
    const f = this.fault;
    const queued: QueueCounts = { alert: 0, observation: 0, other: 0 };
    for (const op of this.queue) queued[kindOf(op)]++;
    return {
      writable: this.writable(),
      ...(f !== undefined ? { reason: f.reason, code: f.code, message: f.message } : {}),
      queued,
      dropped: { ...this.dropped },
      episodes: { ...this.episodes },
      queuedTotal: this.queuedTotal,
    };
  }

  /** Commits what is queued; resolves whether the store is writable now (never rejects). */
  async settle(): Promise<boolean> {
    if (this.closed) return false;
    return this.commit().then(
      () => true,
      () => false,
    );
  }

  /** Where the store is (the URL without its password). */
  file(): string {
    return this.where;
  }

  /** Commits what is queued (one try), then closes the pool. Resolves false when writes were left uncommitted. */
  async close(): Promise<boolean> {
    if (this.closed) return true;
    let ok = true;
    await this.commit().catch(() => {
      ok = false;
    });
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.chain;
    await this.pool.end();
    return ok && this.queue.length === 0;
  }
}

function sumCounts(c: QueueCounts): number {
  return c.alert + c.observation + c.other;
}
