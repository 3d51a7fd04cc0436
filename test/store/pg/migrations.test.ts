/**
 * The PostgreSQL store's migrations against a real PostgreSQL 15 (a throwaway cluster the test
 * starts): a fresh database gets every table, opening again changes nothing, two hubs opening at
 * once apply each migration once, and a database written by a newer llmtap is refused.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { MIGRATION_LOCK, migratePg, PG_SCHEMA_VERSION, PgSchemaError } from '../../../src/store/pg/migrations.js';
import { usePostgres } from '../../helpers/postgres.js';

const postgres = usePostgres();

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function tables(c: pg.Client): Promise<string[]> {
  const r = await c.query<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1");
  return r.rows.map((x) => x.t);
}

describe.skipIf(!postgres.present)('PostgreSQL migrations', () => {
  it('creates every table on a fresh database and records the version once', async () => {
    const url = await postgres.server.createDatabase();
    await withClient(url, async (c) => {
      expect(await migratePg(c)).toBe(PG_SCHEMA_VERSION);
      expect(await tables(c)).toEqual([
        'alert_changes', 'alert_seq', 'alerts', 'allowlist', 'candidates', 'contributions', 'first_seen', 'h1_daily',
        'inventory', 'lineage', 'llmtap_commits', 'llmtap_migrations', 'obs_seq', 'observations', 'output_positions', 'tenant_state',
      ]);
      const v = await c.query<{ version: number }>('SELECT version FROM llmtap_migrations ORDER BY version');
      expect(v.rows.map((r) => r.version)).toEqual(Array.from({ length: PG_SCHEMA_VERSION }, (_, i) => i + 1));
    });
  });

  it('is idempotent: opening again keeps the data and applies nothing', async () => {
    const url = await postgres.server.createDatabase();
    await withClient(url, async (c) => {
      await migratePg(c);
      await c.query("INSERT INTO tenant_state (tenant, first_obs_us) VALUES ('acme', 42)");
    });
    await withClient(url, async (c) => {
      expect(await migratePg(c)).toBe(PG_SCHEMA_VERSION);
      expect((await c.query('SELECT count(*)::int AS n FROM llmtap_migrations')).rows[0]).toEqual({ n: PG_SCHEMA_VERSION });
      expect((await c.query('SELECT tenant, first_obs_us FROM tenant_state')).rows).toEqual([{ tenant: 'acme', first_obs_us: 42 }]);
    });
  });

  it('applies each migration once when several hubs open the same database at once', async () => {
    const url = await postgres.server.createDatabase();
    const versions = await Promise.all([0, 1, 2, 3].map(() => withClient(url, (c) => migratePg(c))));
    expect(versions).toEqual([PG_SCHEMA_VERSION, PG_SCHEMA_VERSION, PG_SCHEMA_VERSION, PG_SCHEMA_VERSION]);
    await withClient(url, async (c) => {
      expect((await c.query('SELECT count(*)::int AS n FROM llmtap_migrations')).rows[0]).toEqual({ n: PG_SCHEMA_VERSION });
    });
  });

  it('stops at a target version (an older database) and upgrades it later', async () => {
    const url = await postgres.server.createDatabase();
    await withClient(url, async (c) => {
      expect(await migratePg(c, 0)).toBe(0);
      expect(await tables(c)).toEqual(['llmtap_migrations']);
      expect(await migratePg(c)).toBe(PG_SCHEMA_VERSION);
    });
  });

  it('refuses a database written by a newer llmtap and leaves it untouched', async () => {
    const url = await postgres.server.createDatabase();
    await withClient(url, async (c) => {
      await migratePg(c);
      await c.query('INSERT INTO llmtap_migrations (version) VALUES ($1)', [PG_SCHEMA_VERSION + 1]);
    });
    await withClient(url, async (c) => {
      const err = await migratePg(c).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PgSchemaError);
      expect((err as PgSchemaError).code).toBe('LLMTAP_ERR_STORE_SCHEMA');
      expect((err as Error).message).toBe(`database schema version ${PG_SCHEMA_VERSION + 1} is newer than this llmtap (${PG_SCHEMA_VERSION})`);
      expect((await c.query('SELECT max(version) AS v FROM llmtap_migrations')).rows[0]).toEqual({ v: PG_SCHEMA_VERSION + 1 });
      // the migration lock was released: another session can take it
      const other = await withClient(url, (o) => o.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [MIGRATION_LOCK.toString()]));
      expect(other.rows[0]?.ok).toBe(true);
    });
  });
});
