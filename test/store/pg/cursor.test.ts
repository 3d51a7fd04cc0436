/**
 * The SIEM cursor over the PostgreSQL store, against a real PostgreSQL 15: several writers (three
 * hubs' stores and API status changes) commit alert changes of two tenants concurrently, each
 * transaction slowed at random between taking its numbers and committing, while a poller follows
 * `/v1/alerts` with small pages. The poller sees every change exactly once, in order, without a
 * gap — a change committed later never carries a number below one already read. An outage of
 * the server (stopped and started again) loses nothing: commits fail, the writes stay queued,
 * and land in order when it returns.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { hashToken } from '../../../src/api/auth.js';
import { alertDedupKey } from '../../../src/detect/alert-key.js';
import type { Alert } from '../../../src/records.js';
import { PgStore, PgStoreFaultError, type PgFaultEvent } from '../../../src/store/pg/store.js';
import { makeHarness, type Harness } from '../../api/harness.js';
import { Postgres, usePostgres } from '../../helpers/postgres.js';

const postgres = usePostgres();

const T0 = 1_700_000_000_000_000;

function alert(tenant: string, id: string, count: number): Alert {
  return {
    id, tenant, heuristic: 'h1', severity: 'high', status: 'open', title: `t ${id}`, deviceId: `dev-${id}`,
    processName: 'agent.exe', provider: 'openai', count, firstSeenUs: T0, lastSeenUs: T0 + count,
    evidence: { flowIds: [count], communityIds: [], obsIds: [], bytesOut: 0, bytesIn: 0, detail: {} },
  };
}

const TOKENS = { acme: 'token-of-tenant-acme-0123456789', beta: 'token-of-tenant-beta-0123456789' } as const;

interface Seen {
  seq: number;
  id: string;
  count: number;
  status: string;
}

/** Follows /v1/alerts with pages of 3 until `done()` and one more empty round. */
async function follow(h: Harness, tenant: keyof typeof TOKENS, done: () => boolean): Promise<Seen[]> {
  const out: Seen[] = [];
  let cursor = '';
  for (let finished = false; ;) {
    const res = await h.app.inject({ url: `/v1/alerts?limit=3${cursor !== '' ? `&cursor=${cursor}` : ''}`, headers: { authorization: `Bearer ${TOKENS[tenant]}` } });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as { items: Array<Record<string, unknown>>; next_cursor: string; has_more: boolean };
    for (const a of body.items) out.push({ seq: a['seq'] as number, id: a['id'] as string, count: a['count'] as number, status: a['status'] as string });
    cursor = body.next_cursor;
    if (body.has_more) continue;
    if (finished) return out;
    finished = done();
    await sleep(5);
  }
}

describe.skipIf(!postgres.present)('PostgreSQL store: the SIEM cursor under concurrent writers', () => {
  it('sees every change of each tenant exactly once, in order, without gaps', async () => {
    const url = await postgres.server.createDatabase('cursor');
    const writers = await Promise.all([0, 1, 2].map(() => PgStore.open(url, { flushIntervalMs: 0 })));
    const reader = await PgStore.open(url, { flushIntervalMs: 0 });
    // every transaction that writes alert changes sleeps 0-15 ms after taking its numbers
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE FUNCTION llmtap_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(random() * 0.015); RETURN NULL; END $$`);
    await admin.query('CREATE TRIGGER slow AFTER INSERT ON alert_changes FOR EACH STATEMENT EXECUTE FUNCTION llmtap_test_slow()');
    await admin.end();
    const h = await makeHarness(
      { tenants: [{ tenant: 'acme', tokenSha256: hashToken(TOKENS.acme) }, { tenant: 'beta', tokenSha256: hashToken(TOKENS.beta) }] },
      { store: reader },
    );
    try {
      const want: Record<string, Set<string>> = { acme: new Set(), beta: new Set() };
      const key = (id: string, count: number, status: string): string => `${id}#${count}#${status}`;
      let running = 3;
      const write = async (w: number, s: PgStore): Promise<void> => {
        for (let i = 1; i <= 40; i++) {
          const tenant = i % 3 === 0 ? 'beta' : 'acme';
          const id = `w${w}-${tenant}-${i % 4}`;
          s.upsertAlert(alert(tenant, id, i));
          want[tenant]!.add(key(id, i, 'open'));
          if (i % 10 === 0) {
            // an analyst's status change through the same store (its own transaction)
            await s.setAlertStatus(tenant, id, 'acknowledged');
            want[tenant]!.add(key(id, i, 'acknowledged'));
            s.upsertAlert({ ...alert(tenant, id, i + 1000) });
            want[tenant]!.add(key(id, i + 1000, 'open'));
          }
          if (i % (w + 1) === 0) await s.commit();
          await sleep(Math.floor(Math.random() * 3));
        }
        await s.commit();
        running--;
      };
      const [acme, beta] = await Promise.all([
        follow(h, 'acme', () => running === 0),
        follow(h, 'beta', () => running === 0),
        ...writers.map((s, w) => write(w, s)),
      ]);
      for (const [tenant, seen] of [['acme', acme], ['beta', beta]] as const) {
        expect(seen.map((x) => x.seq), tenant).toEqual(seen.map((_, i) => i + 1));
        const keys = seen.map((x) => key(x.id, x.count, x.status));
        expect(new Set(keys).size, tenant).toBe(keys.length);
        expect(new Set(keys), tenant).toEqual(want[tenant]);
        // each writer's changes of one alert in the order it made them
        const byId = new Map<string, number[]>();
        for (const x of seen) byId.set(x.id, [...(byId.get(x.id) ?? []), x.count]);
        for (const [id, counts] of byId) expect(counts.filter((c) => c < 1000), id).toEqual(counts.filter((c) => c < 1000).sort((p, q) => p - q));
      }
      expect(acme.length).toBeGreaterThan(80);
      expect(beta.length).toBeGreaterThan(40);
    } finally {
      await h.close();
      await Promise.all([...writers, reader].map((s) => s.close()));
    }
  }, 180_000);
});

describe.skipIf(!postgres.present)('PostgreSQL store: an outage of the server', () => {
  it('keeps writes queued while the server is down and commits them in order when it returns', async () => {
    const own = await Postgres.start();
    try {
      const url = await own.createDatabase('outage');
      const events: PgFaultEvent[] = [];
      const s = await PgStore.open(url, { flushIntervalMs: 0, retryIntervalMs: 10, onFault: (e) => events.push(e) });
      s.upsertAlert(alert('acme', 'a1', 1));
      await s.commit();
      expect(s.status()).toMatchObject({ writable: true, queuedTotal: 0, queued: { alert: 0, observation: 0, other: 0 } });
      await own.pause();
      s.upsertAlert(alert('acme', 'a1', 2));
      s.upsertAlert(alert('acme', 'a2', 1));
      const err = await s.commit().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PgStoreFaultError);
      expect((err as PgStoreFaultError).code).toBe('LLMTAP_ERR_STORE_FAULT');
      expect(s.writable()).toBe(false);
      expect(s.status()).toMatchObject({ writable: false, reason: 'cantopen', queuedTotal: 2, queued: { alert: 2, observation: 0, other: 0 } });
      // detection goes on from memory
      s.upsertAlert(alert('acme', 'a1', 3));
      expect(s.status()).toMatchObject({ queuedTotal: 3, queued: { alert: 3, observation: 0, other: 0 } });
      expect(await s.settle()).toBe(false);
      // the API answers 503 while the server is away
      const h = await makeHarness({ tenants: [{ tenant: 'acme', tokenSha256: hashToken(TOKENS.acme) }] }, { store: s });
      const res = await h.app.inject({ url: '/v1/alerts', headers: { authorization: `Bearer ${TOKENS.acme}` } });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({ error: { code: 'LLMTAP_ERR_UNAVAILABLE', message: 'service unavailable: store not writable' } });
      await h.close();
      expect(s.peekAlert('acme', 'a1')?.count).toBe(3);
      expect(s.openAlertByKey('acme', alertDedupKey(alert('acme', 'a1', 3)))?.count).toBe(3);
      await expect(s.commit()).rejects.toBeInstanceOf(PgStoreFaultError);
      await own.resume();
      expect(await s.settle()).toBe(true);
      expect(s.writable()).toBe(true);
      expect(events.map((e) => e.state)).toEqual(['started', 'cleared']);
      expect(events[1]).toMatchObject({ state: 'cleared', reason: 'cantopen', dropped: 0 });
      const changes = await s.listAlertChanges('acme', { afterSeq: 0, limit: 100 });
      expect(changes.map((c) => [c.seq, c.id, c.count, c.change])).toEqual([
        [1, 'a1', 1, 'create'],
        [2, 'a1', 2, 'update'],
        [3, 'a2', 1, 'create'],
        [4, 'a1', 3, 'update'],
      ]);
      expect(s.status().queued).toEqual({ alert: 0, observation: 0, other: 0 });
      await s.close();
    } finally {
      await own.stop();
    }
  }, 180_000);
});

