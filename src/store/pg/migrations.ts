/**
 * The PostgreSQL store's schema, as numbered migrations. Each runs once, in order, in its own
 * transaction, and is recorded in `llmtap_migrations` with the time it was applied. Opening
 * takes a session advisory lock first, so two hubs starting at once never apply the same
 * migration twice. A database at a version this code does not know (written by a newer llmtap)
 * is refused rather than guessed at. A migration, once released, is never edited: a change is a
 * new one appended to the list.
 *
 * The tables hold what the SQLite store holds (src/store/schema.ts), with PostgreSQL types:
 * capture times are double precision µs, counters and byte counts bigint. Sequences are per
 * tenant, taken from counter rows (`alert_seq`, `obs_seq`) updated in the writing transaction:
 * the row lock serializes a tenant's writers, so numbers are handed out in commit order and
 * a reader never sees a number before every smaller one is committed (see store.ts).
 *
 * Privacy: as in SQLite, no column for payload bytes, prompt or response text, command lines,
 * process paths, user names or SIDs.
 */
import type pg from 'pg';

export const PG_MIGRATIONS: readonly string[] = [
  // 1: initial schema
  `
  CREATE TABLE alerts (
    id text PRIMARY KEY,
    tenant text NOT NULL,
    heuristic text NOT NULL,
    severity text NOT NULL,
    status text NOT NULL,
    dedup_key text NOT NULL,
    bin_hash text,
    first_seen_us double precision NOT NULL,
    last_seen_us double precision NOT NULL,
    seq bigint NOT NULL,
    alert_json text NOT NULL
  );
  CREATE INDEX alerts_dedup ON alerts (tenant, dedup_key) WHERE status <> 'closed';
  CREATE INDEX alerts_hash ON alerts (tenant, bin_hash) WHERE bin_hash IS NOT NULL;
  CREATE INDEX alerts_last ON alerts (tenant, last_seen_us);

  -- Append-only: one row per create or update of an alert; tenant_seq is the SIEM cursor.
  CREATE TABLE alert_changes (
    tenant text NOT NULL,
    tenant_seq bigint NOT NULL,
    alert_id text NOT NULL,
    heuristic text NOT NULL,
    severity text NOT NULL,
    alert_json text NOT NULL,
    PRIMARY KEY (tenant, tenant_seq)
  );
  CREATE INDEX alert_changes_alert ON alert_changes (alert_id, tenant_seq);
  CREATE TABLE alert_seq (
    tenant text PRIMARY KEY,
    last bigint NOT NULL
  );

  -- Which observation already counted toward which alert or candidate (idempotent re-runs).
  CREATE TABLE contributions (
    scope text NOT NULL,
    obs_id text NOT NULL,
    ts_us double precision NOT NULL,
    PRIMARY KEY (scope, obs_id)
  );
  CREATE INDEX contributions_ts ON contributions (ts_us);

  CREATE TABLE observations (
    obs_id text PRIMARY KEY,
    tenant text NOT NULL,
    tenant_seq bigint NOT NULL,
    kind text NOT NULL,
    ts_us double precision NOT NULL,
    last_ts_us double precision NOT NULL,
    device_id text,
    device_name text,
    client_addr text NOT NULL,
    server_addr text NOT NULL,
    server_port integer NOT NULL,
    proto integer NOT NULL,
    host text,
    host_source text NOT NULL,
    process_name text,
    sha256 text,
    sha1 text,
    parent_name text,
    lineage_hash text,
    category text NOT NULL,
    provider text NOT NULL,
    rule_id text NOT NULL,
    sanctioned boolean NOT NULL,
    bytes_out bigint NOT NULL,
    bytes_in bigint NOT NULL,
    flow_id bigint,
    community_id text,
    payload_entropy double precision,
    h1 boolean NOT NULL,
    UNIQUE (tenant, tenant_seq)
  );
  CREATE INDEX observations_ts ON observations (ts_us);
  CREATE INDEX observations_tenant_ts ON observations (tenant, ts_us);
  CREATE TABLE obs_seq (
    tenant text PRIMARY KEY,
    last bigint NOT NULL
  );

  -- H1 rate per day survives observation retention; counted once per obs_id.
  CREATE TABLE h1_daily (
    tenant text NOT NULL,
    day text NOT NULL,
    h1 bigint NOT NULL,
    observations bigint NOT NULL,
    PRIMARY KEY (tenant, day)
  );

  CREATE TABLE allowlist (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant text NOT NULL,
    process_name text NOT NULL,
    binary_hash text,
    device_group text,
    provider text,
    category text,
    justification text NOT NULL,
    expires_at_ms bigint,
    created_at_ms bigint NOT NULL,
    origin text NOT NULL
  );
  CREATE INDEX allowlist_name ON allowlist (tenant, process_name);

  CREATE TABLE candidates (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant text NOT NULL,
    process_name text NOT NULL,
    provider text NOT NULL,
    category text NOT NULL,
    devices text NOT NULL,
    device_count integer NOT NULL,
    count bigint NOT NULL,
    first_seen_us double precision NOT NULL,
    last_seen_us double precision NOT NULL,
    status text NOT NULL,
    UNIQUE (tenant, process_name, provider)
  );

  -- Known process inventory: earliest sighting per binary hash (imports carry 0).
  CREATE TABLE inventory (
    tenant text NOT NULL,
    hash text NOT NULL,
    first_seen_us double precision NOT NULL,
    source text NOT NULL,
    PRIMARY KEY (tenant, hash)
  );

  -- First sighting of each (device, process, provider): the first-seen confidence signal.
  CREATE TABLE first_seen (
    tenant text NOT NULL,
    device text NOT NULL,
    process text NOT NULL,
    provider text NOT NULL,
    first_seen_us double precision NOT NULL,
    PRIMARY KEY (tenant, device, process, provider)
  );

  -- Lineage hashes seen per process name (unexpected-parent signal).
  CREATE TABLE lineage (
    tenant text NOT NULL,
    process_name text NOT NULL,
    lineage_hash text NOT NULL,
    first_seen_us double precision NOT NULL,
    PRIMARY KEY (tenant, process_name, lineage_hash)
  );

  -- Capture time of each tenant's first observation (warm-up clock).
  CREATE TABLE tenant_state (
    tenant text PRIMARY KEY,
    first_obs_us double precision NOT NULL
  );
  `,
  // 2: commit tokens. Each transaction of the store records a token of its own; when the
  // connection drops while COMMIT is under way the store cannot tell whether it committed, and
  // looks its token up before writing those operations again (never twice: an alert change
  // twice, an H1 day counted twice). The store deletes its previous token in each transaction, so
  // the table holds about one row per store that ever ran.
  `
  CREATE TABLE llmtap_commits (
    token text PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now()
  );
  `,
  // 3: where each push output stands (src/output/outputs.ts): per output name and tenant, the
  // seq of the last alert change it delivered (or dropped out of its full queue). A restarted
  // hub resumes each output there: a change committed but not yet delivered when the hub stopped
  // or died is pushed after the restart.
  `
  CREATE TABLE output_positions (
    output text NOT NULL,
    tenant text NOT NULL,
    seq bigint NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (output, tenant)
  );
  `,
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/** Any 64-bit number the migration lock is known by (pg_advisory_lock's key space is the server's). */
export const MIGRATION_LOCK = 0x6c6c6d74_6170n; // "llmtap"

export class PgSchemaError extends Error {
  readonly code = 'LLMTAP_ERR_STORE_SCHEMA';
}

/**
 * Applies pending migrations (up to `target`, all by default; tests build older databases with
 * it) under the migration lock; returns the version the database is now at. Throws
 * `PgSchemaError` when the database is newer than this code.
 */
export async function migratePg(client: pg.ClientBase, target = PG_MIGRATIONS.length): Promise<number> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS llmtap_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const r = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM llmtap_migrations');
    const current = r.rows[0]?.v ?? 0;
    if (current > PG_MIGRATIONS.length) {
      throw new PgSchemaError(`database schema version ${current} is newer than this llmtap (${PG_MIGRATIONS.length})`);
    }
    const upTo = Math.min(target, PG_MIGRATIONS.length);
    for (let v = current + 1; v <= upTo; v++) {
      await client.query('BEGIN');
      try {
        await client.query(PG_MIGRATIONS[v - 1] ?? '');
        await client.query('INSERT INTO llmtap_migrations (version) VALUES ($1)', [v]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
    return Math.max(current, upTo);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]);
  }
}
