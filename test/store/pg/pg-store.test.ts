/**
 * The fleet hub's PostgreSQL store against a real PostgreSQL 15 (a throwaway cluster the test
 * starts): the demo replayed into it serves, through the API, the same alerts, observations,
 * allowlist, candidates and usage as the demo replayed into SQLite; reopening reloads detection's
 * state (a second replay of the same input adds nothing); opening refuses a newer schema and an
 * unreachable server with a clear error.
 */
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { hashToken } from '../../../src/api/auth.js';
import type { ApiStore } from '../../../src/api/deps.js';
import { readEdrFile } from '../../../src/attribute/ingest.js';
import { configAllowlistEntries } from '../../../src/sensor/allowlist.js';
import { configFromObject, loadConfig } from '../../../src/config.js';
import { Pipeline } from '../../../src/pipeline.js';
import { readCaptureFile } from '../../../src/source/file.js';
import { PG_SCHEMA_VERSION } from '../../../src/store/pg/migrations.js';
import { PgStore, PgStoreOpenError, pgStoreOptions } from '../../../src/store/pg/store.js';
import { makeHarness, type Harness } from '../../api/harness.js';
import { DEMO_DIR, replayDemo, type DemoRun } from '../../helpers/demo-run.js';
import { usePostgres } from '../../helpers/postgres.js';

const postgres = usePostgres();
const TOKEN = 'token-of-the-demo-tenant-0123456789';

/** Replays the demo (capture, EDR feed, config allowlist) into a PostgreSQL store, as replayDemo does into SQLite. */
async function replayDemoInto(store: PgStore): Promise<void> {
  const cfg = loadConfig(join(DEMO_DIR, 'llmtap.yaml'));
  await store.replaceConfigAllowlist(configAllowlistEntries(cfg));
  const pipeline = new Pipeline(cfg, { store });
  await readEdrFile(join(DEMO_DIR, 'edr', 'llmtap.ndjson'), { tenant: 'demo', lineageKey: cfg.attribute.lineage_key }, (r) => pipeline.addEdr(r));
  await readCaptureFile(join(DEMO_DIR, 'demo.pcap.gz'), (b) => pipeline.onBatch(b));
  pipeline.finish();
  await store.commit();
}

async function apiOver(store: ApiStore): Promise<Harness> {
  return makeHarness({ tenants: [{ tenant: 'demo', tokenSha256: hashToken(TOKEN) }] }, { store });
}

type Item = Record<string, unknown>;

/** Every item of a paged list route, following next_cursor. */
async function all(app: FastifyInstance, path: string): Promise<Item[]> {
  const out: Item[] = [];
  let cursor = '';
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const res = await app.inject({ url: `${path}${sep}limit=7${cursor !== '' ? `&cursor=${cursor}` : ''}`, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as { items: Item[]; next_cursor: string; has_more: boolean };
    out.push(...body.items);
    if (!body.has_more) return out;
    cursor = body.next_cursor;
  }
}

async function get(app: FastifyInstance, url: string): Promise<unknown> {
  const res = await app.inject({ url, headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

/** The current state of each alert (its last change), without the change's seq and kind. */
function current(changes: Item[]): Map<string, Item> {
  const m = new Map<string, Item>();
  for (const c of changes) {
    const { seq: _s, change: _c, ...rest } = c;
    m.set(String(c['id']), rest);
  }
  return m;
}

const withoutCreated = (items: Item[]): Item[] => items.map(({ created: _c, ...rest }) => rest);

describe.skipIf(!postgres.present)('PostgreSQL store: the demo through the API', () => {
  let sqlite: DemoRun;
  let pgStore: PgStore;
  let url: string;
  let a: Harness;
  let b: Harness;

  beforeAll(async () => {
    sqlite = await replayDemo();
    url = await postgres.server.createDatabase('demo');
    pgStore = await PgStore.open(url, { flushIntervalMs: 0 });
    await replayDemoInto(pgStore);
    a = await apiOver(sqlite.store);
    b = await apiOver(pgStore);
  }, 240_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await pgStore?.close();
    sqlite?.store.close();
  });

  it('serves the same alert set with the same fields', async () => {
    const fromSqlite = current(await all(a.app, '/v1/alerts'));
    const fromPg = current(await all(b.app, '/v1/alerts'));
    expect(fromSqlite.size).toBeGreaterThanOrEqual(5);
    expect(new Set([...fromSqlite.values()].map((x) => x['heuristic']))).toEqual(new Set(['h1', 'h7', 'beacon', 'shadow_volume', 'upload']));
    expect([...fromPg.keys()].sort()).toEqual([...fromSqlite.keys()].sort());
    for (const [id, x] of fromSqlite) expect(fromPg.get(id), id).toEqual(x);
    // and one by id, with its seq the last change's
    for (const [id] of fromPg) {
      const one = (await get(b.app, `/v1/alerts/${id}`)) as Item;
      const { seq: _s, ...rest } = one;
      expect(rest).toEqual(fromPg.get(id));
    }
  });

  it('serves alert changes in gapless per-tenant order, the first change of each alert a create', async () => {
    const changes = await all(b.app, '/v1/alerts');
    expect(changes.map((c) => c['seq'])).toEqual(changes.map((_, i) => i + 1));
    const fromStore = await pgStore.listAlertChanges('demo', { afterSeq: 0, limit: 10_000 });
    expect(fromStore.map((c) => c.seq)).toEqual(changes.map((c) => c['seq']));
    const seen = new Set<string>();
    for (const c of fromStore) {
      expect(c.change, c.id).toBe(seen.has(c.id) ? 'update' : 'create');
      seen.add(c.id);
    }
    expect(seen.size).toBe(current(changes).size);
  });

  it('serves the same observations, seqs included, and the same OCSF findings', async () => {
    const fromSqlite = await all(a.app, '/v1/observations');
    const fromPg = await all(b.app, '/v1/observations');
    expect(fromSqlite.length).toBeGreaterThan(20);
    expect(fromPg).toEqual(fromSqlite);
    const ocsf = (app: FastifyInstance): Promise<Item[]> => all(app, '/v1/alerts?format=ocsf');
    const byUid = (xs: Item[]): Map<string, Item> => new Map(xs.map((x) => [(x['finding_info'] as { uid: string }).uid, x]));
    const [os, op] = [byUid(await ocsf(a.app)), byUid(await ocsf(b.app))];
    expect([...op.keys()].sort()).toEqual([...os.keys()].sort());
  });

  it('serves the same allowlist, candidates and usage summary', async () => {
    const allow = (app: FastifyInstance): Promise<Item[]> => get(app, '/v1/allowlist').then((r) => withoutCreated((r as { items: Item[] }).items));
    expect(await allow(b.app)).toEqual(await allow(a.app));
    expect((await allow(b.app)).map((e) => e['process_name'])).toEqual(['curl', 'python3.11']);
    const cands = (app: FastifyInstance): Promise<unknown> => get(app, '/v1/candidates');
    expect(await cands(b.app)).toEqual(await cands(a.app));
    const span = sqlite.store.observationSpan('demo')!;
    const until = new Date(Math.ceil(span.lastUs / 1000) + 60_000).toISOString();
    for (const group of ['device,provider', 'destination', 'source,destination', '']) {
      const q = `/v1/usage?window=7d&until=${until}${group !== '' ? `&group=${group}` : ''}`;
      const u = (await get(b.app, q)) as { items: unknown[] };
      expect(u.items.length, q).toBeGreaterThan(0);
      expect(u, q).toEqual(await get(a.app, q));
    }
    expect(await pgStore.h1RatePerDay('demo')).toEqual(sqlite.store.h1RatePerDay('demo'));
    expect(await pgStore.observationTenants()).toEqual(['demo']);
  });

  it('reloads detection state when reopened: replaying the same input again adds no change', async () => {
    const before = await all(b.app, '/v1/alerts');
    const obsBefore = await all(b.app, '/v1/observations');
    const again = await PgStore.open(url, { flushIntervalMs: 0 });
    try {
      await replayDemoInto(again);
      const changes = await again.listAlertChanges('demo', { afterSeq: 0, limit: 10_000 });
      expect(changes.length).toBe(before.length);
      expect(await again.lastAlertSeq('demo')).toBe(before.length);
      // observations are upserted again (each takes a new seq), with the same content
      const obs = await again.listObservations('demo', { afterSeq: 0, limit: 10_000 });
      expect(obs.map((o) => o.obsId).sort()).toEqual(obsBefore.map((o) => o['obs_id']).sort());
      expect(await again.listAllowlist('demo')).toEqual(await pgStore.listAllowlist('demo'));
      expect(await again.h1RatePerDay('demo')).toEqual(sqlite.store.h1RatePerDay('demo'));
    } finally {
      await again.close();
    }
  }, 240_000);
});

describe.skipIf(!postgres.present)('PostgreSQL store: opening', () => {
  it('migrates a fresh database, opens it again unchanged, and refuses a newer schema', async () => {
    const url = await postgres.server.createDatabase('open');
    const s = await PgStore.open(url);
    expect(await s.lastAlertSeq('acme')).toBe(0);
    await s.close();
    await (await PgStore.open(url)).close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    expect((await c.query('SELECT count(*)::int AS n FROM llmtap_migrations')).rows[0]).toEqual({ n: PG_SCHEMA_VERSION });
    await c.query('INSERT INTO llmtap_migrations (version) VALUES ($1)', [PG_SCHEMA_VERSION + 1]);
    await c.end();
    const err = await PgStore.open(url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PgStoreOpenError);
    expect((err as PgStoreOpenError).code).toBe('LLMTAP_ERR_STORE_OPEN');
    expect((err as Error).message).toBe(
      `cannot open store ${url}: database schema version ${PG_SCHEMA_VERSION + 1} is newer than this llmtap (${PG_SCHEMA_VERSION})`,
    );
  });

  it('opens from the config store.url; the schema takes only postgres:// URLs (empty: SQLite)', async () => {
    const url = await postgres.server.createDatabase('cfg');
    const cfg = configFromObject({ store: { url, retention_hours: 24, queue_max: 500 } });
    expect(cfg.store).toMatchObject({ url, path: 'llmtap.db', retention_hours: 24, queue_max: 500 });
    expect(pgStoreOptions(cfg.store)).toEqual({ retentionHours: 24, queueMax: 500, retryIntervalMs: 1000 });
    const s = await PgStore.open(cfg.store.url, pgStoreOptions(cfg.store));
    expect(s.file()).toBe(url);
    await s.close();
    expect(configFromObject({}).store.url).toBe('');
    expect(() => configFromObject({ store: { url: 'mysql://db/x' } })).toThrow(/store\/url|store\.url/);
  });

  it('names an unreachable server without its password', async () => {
    const { server } = postgres;
    const err = await PgStore.open(`postgres://llmtap:s3cret@127.0.0.1:${server.port + 1}/x`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PgStoreOpenError);
    const msg = (err as Error).message;
    expect(msg.startsWith(`cannot open store postgres://llmtap:***@127.0.0.1:${server.port + 1}/x: `)).toBe(true);
    expect(msg).toContain('ECONNREFUSED');
    expect(msg).not.toContain('s3cret');
  });
});
