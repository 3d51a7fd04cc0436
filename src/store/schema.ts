/**
 * Schema and migrations. Each migration runs once, in order, inside a transaction, and is
 * recorded in `migrations`; a database written by a newer llmtap (unknown version) is refused
 * rather than guessed at.
 *
 * Privacy: there is deliberately no column for payload bytes, prompt or response text,
 * command lines, process paths, user names or SIDs (test/store/privacy.test.ts checks this).
 * Alert bodies are serialized `Alert` records, which have no such fields either.
 */
import type { Database, Statement } from 'better-sqlite3';

const MIGRATIONS: string[] = [
  // 1: initial schema
  `
  CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    heuristic TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    bin_hash TEXT,
    first_seen_us REAL NOT NULL,
    last_seen_us REAL NOT NULL,
    seq INTEGER NOT NULL,
    alert_json TEXT NOT NULL
  );
  CREATE INDEX alerts_dedup ON alerts(tenant, dedup_key) WHERE status <> 'closed';
  CREATE INDEX alerts_hash ON alerts(tenant, bin_hash) WHERE bin_hash IS NOT NULL;
  CREATE INDEX alerts_last ON alerts(last_seen_us);

  -- Append-only: one row per create or update of an alert; seq is the SIEM cursor.
  CREATE TABLE alert_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    heuristic TEXT NOT NULL,
    severity TEXT NOT NULL,
    alert_json TEXT NOT NULL
  );
  CREATE INDEX alert_changes_tenant ON alert_changes(tenant, seq);
  CREATE INDEX alert_changes_alert ON alert_changes(alert_id);

  -- Which observation already counted toward which alert or candidate (idempotent re-runs).
  CREATE TABLE contributions (
    scope TEXT NOT NULL,
    obs_id TEXT NOT NULL,
    ts_us REAL NOT NULL,
    PRIMARY KEY (scope, obs_id)
  ) WITHOUT ROWID;
  CREATE INDEX contributions_ts ON contributions(ts_us);

  CREATE TABLE observations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    obs_id TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    ts_us REAL NOT NULL,
    last_ts_us REAL NOT NULL,
    device_id TEXT,
    device_name TEXT,
    client_addr TEXT NOT NULL,
    server_addr TEXT NOT NULL,
    server_port INTEGER NOT NULL,
    proto INTEGER NOT NULL,
    host TEXT,
    host_source TEXT NOT NULL,
    process_name TEXT,
    sha256 TEXT,
    sha1 TEXT,
    parent_name TEXT,
    lineage_hash TEXT,
    category TEXT NOT NULL,
    provider TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    sanctioned INTEGER NOT NULL,
    bytes_out INTEGER NOT NULL,
    bytes_in INTEGER NOT NULL,
    flow_id INTEGER,
    community_id TEXT,
    payload_entropy REAL,
    h1 INTEGER NOT NULL
  );
  CREATE INDEX observations_tenant ON observations(tenant, seq);
  CREATE INDEX observations_ts ON observations(ts_us);

  -- H1 rate per day survives observation retention; counted once per obs_id.
  CREATE TABLE h1_daily (
    tenant TEXT NOT NULL,
    day TEXT NOT NULL,
    h1 INTEGER NOT NULL,
    observations INTEGER NOT NULL,
    PRIMARY KEY (tenant, day)
  ) WITHOUT ROWID;

  CREATE TABLE allowlist (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    process_name TEXT NOT NULL,
    binary_hash TEXT,
    device_group TEXT,
    provider TEXT,
    category TEXT,
    justification TEXT NOT NULL,
    expires_at_ms INTEGER,
    created_at_ms INTEGER NOT NULL,
    origin TEXT NOT NULL
  );
  CREATE INDEX allowlist_name ON allowlist(tenant, process_name);

  CREATE TABLE candidates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    process_name TEXT NOT NULL,
    provider TEXT NOT NULL,
    category TEXT NOT NULL,
    devices TEXT NOT NULL,
    device_count INTEGER NOT NULL,
    count INTEGER NOT NULL,
    first_seen_us REAL NOT NULL,
    last_seen_us REAL NOT NULL,
    status TEXT NOT NULL,
    UNIQUE (tenant, process_name, provider)
  );

  -- Known process inventory: earliest sighting per binary hash (imports carry 0).
  CREATE TABLE inventory (
    tenant TEXT NOT NULL,
    hash TEXT NOT NULL,
    first_seen_us REAL NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (tenant, hash)
  ) WITHOUT ROWID;

  -- Lineage hashes seen per process name (unexpected-parent signal).
  CREATE TABLE lineage (
    tenant TEXT NOT NULL,
    process_name TEXT NOT NULL,
    lineage_hash TEXT NOT NULL,
    first_seen_us REAL NOT NULL,
    PRIMARY KEY (tenant, process_name, lineage_hash)
  ) WITHOUT ROWID;

  -- Capture time of each tenant's first observation (warm-up clock).
  CREATE TABLE tenant_state (
    tenant TEXT PRIMARY KEY,
    first_obs_us REAL NOT NULL
  );
  `,
  // 2: per-tenant alert sequence numbers. A tenant's change seqs count only its own changes, so
  // a gap seen by one tenant's SIEM says nothing about another tenant's activity. The counter of
  // every tenant starts above the highest seq the global sequence ever issued (the floor), so a
  // cursor handed out before this migration still points before every new change.
  `
  ALTER TABLE alert_changes ADD COLUMN tenant_seq INTEGER;
  UPDATE alert_changes SET tenant_seq = seq;
  DROP INDEX alert_changes_tenant;
  CREATE UNIQUE INDEX alert_changes_tenant_seq ON alert_changes(tenant, tenant_seq);
  CREATE TABLE alert_seq (
    tenant TEXT PRIMARY KEY,
    last INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE store_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO store_meta (key, value)
    VALUES ('alert_seq_floor', COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'alert_changes'), 0));
  `,
  // 3: first sighting of each (device, process, provider) per tenant, for the first-seen
  // confidence signal. Learned state like the inventory: kept by retention.
  `
  CREATE TABLE first_seen (
    tenant TEXT NOT NULL,
    device TEXT NOT NULL,
    process TEXT NOT NULL,
    provider TEXT NOT NULL,
    first_seen_us REAL NOT NULL,
    PRIMARY KEY (tenant, device, process, provider)
  ) WITHOUT ROWID;
  `,
  // 4: per-tenant observation sequence numbers (the /v1/observations cursor), for the same
  // reason as alerts' (2): one tenant's gaps must not count another tenant's connections.
  `
  ALTER TABLE observations ADD COLUMN tenant_seq INTEGER;
  UPDATE observations SET tenant_seq = seq;
  DROP INDEX observations_tenant;
  CREATE UNIQUE INDEX observations_tenant_seq ON observations(tenant, tenant_seq);
  CREATE TABLE obs_seq (
    tenant TEXT PRIMARY KEY,
    last INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO store_meta (key, value)
    VALUES ('obs_seq_floor', COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'observations'), 0));
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export class SchemaError extends Error {
  readonly code = 'LLMTAP_ERR_STORE_SCHEMA';
}

/** Applies pending migrations (up to `target`, all by default; tests build older databases
 * with it); returns the version the database is now at. */
export function migrate(db: Database, nowMs: number, target = MIGRATIONS.length): number {
  db.exec('CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)');
  const row = db.prepare('SELECT MAX(version) AS v FROM migrations').get() as { v: number | null };
  const current = row.v ?? 0;
  if (current > MIGRATIONS.length) {
    throw new SchemaError(`database schema version ${current} is newer than this llmtap (${MIGRATIONS.length})`);
  }
  const record = db.prepare('INSERT INTO migrations (version, applied_at_ms) VALUES (?, ?)');
  const upTo = Math.min(target, MIGRATIONS.length);
  for (let v = current + 1; v <= upTo; v++) {
    const sql = MIGRATIONS[v - 1] ?? '';
    db.transaction(() => {
      db.exec(sql);
      record.run(v, nowMs);
    })();
  }
  return Math.max(current, upTo);
}

/**
 * The statement that takes a tenant's next sequence number from `counterTable` (migrations 2 and
 * 4): a tenant's first number is one above the global floor kept under `floorKey` in store_meta.
 * Returns `{ last }`.
 */
export function prepareNextTenantSeq(db: Database, counterTable: 'alert_seq' | 'obs_seq', floorKey: 'alert_seq_floor' | 'obs_seq_floor'): Statement {
  return db.prepare(
    `INSERT INTO ${counterTable} (tenant, last) VALUES (?, (SELECT value FROM store_meta WHERE key = '${floorKey}') + 1)
       ON CONFLICT(tenant) DO UPDATE SET last = last + 1 RETURNING last`,
  );
}
