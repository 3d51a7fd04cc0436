/**
 * The PostgreSQL store's write queue against a real PostgreSQL 15: a write the server rejects
 * for its data is dropped alone (the rest of its batch commits); past `queueMax` during an
 * outage the oldest observation and learning writes are dropped first and counted, alerts kept;
 * and the schema has no column for content, command lines, paths, users or SIDs.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert, Observation } from '../../../src/records.js';
import { PgStore } from '../../../src/store/pg/store.js';
import { makeAlert, makeObservation } from '../../api/seed.js';
import { havePostgres, Postgres } from '../../helpers/postgres.js';

const present = havePostgres();
let server: Postgres;

beforeAll(async () => {
  if (present) server = await Postgres.start();
}, 120_000);
afterAll(async () => {
  await server?.stop();
}, 60_000);

/** Same list as test/store/privacy.test.ts. */
const FORBIDDEN = /(command|cmd|argv|args|prompt|response|payload(?!_entropy)|body|content|user|sid$|^sid|path|message)/i;

describe.skipIf(!present)('PostgreSQL store: queue and schema', () => {
  it('drops only the write the server rejects for its data; the rest of the batch commits', async () => {
    const s = await PgStore.open(await server.createDatabase('bad'), { flushIntervalMs: 0 });
    const good1 = makeObservation('acme');
    const bad: Observation = { ...makeObservation('acme'), tsUs: Number.NaN }; // NOT NULL ts_us: JSON has no NaN
    const good2 = makeObservation('acme');
    const a = makeAlert('acme', 'h1', 'high');
    s.insertObservation(good1);
    s.insertObservation(bad);
    s.insertObservation(good2);
    s.upsertAlert(a);
    await s.commit();
    expect(s.errors()).toBe(1);
    expect(s.writable()).toBe(true);
    const rows = await s.listObservations('acme', { afterSeq: 0, limit: 10 });
    expect(rows.map((r) => [r.obsId, r.seq])).toEqual([[good1.obsId, 1], [good2.obsId, 2]]);
    expect((await s.listAlertChanges('acme', { afterSeq: 0, limit: 10 })).map((c) => [c.id, c.seq])).toEqual([[a.id, 1]]);
    expect(s.status().queued).toEqual({ alert: 0, observation: 0, other: 0 });
    await s.close();
  });

  it('past queueMax during an outage drops the oldest non-alert writes first, counted, and keeps every alert', async () => {
    const own = await Postgres.start();
    try {
      const s = await PgStore.open(await own.createDatabase('bound'), { flushIntervalMs: 0, queueMax: 20 });
      await own.pause();
      const alerts: Alert[] = [];
      for (let i = 0; i < 5; i++) alerts.push(s.upsertAlert(makeAlert('acme', 'h1', 'high')));
      await s.commit().catch(() => undefined); // the fault starts
      const obs: Observation[] = [];
      for (let i = 0; i < 30; i++) {
        const o = makeObservation('acme');
        obs.push(o);
        s.insertObservation(o);
      }
      const st = s.status();
      expect(st.writable).toBe(false);
      expect(st.queued.alert).toBe(5);
      expect(st.queued.alert + st.queued.observation + st.queued.other).toBeLessThanOrEqual(20);
      expect(st.dropped.alert).toBe(0);
      expect(st.dropped.observation).toBe(30 - st.queued.observation);
      expect(st.dropped.observation).toBeGreaterThanOrEqual(15);
      await own.resume();
      expect(await s.settle()).toBe(true);
      expect((await s.listAlertChanges('acme', { afterSeq: 0, limit: 100 })).map((c) => c.id)).toEqual(alerts.map((a) => a.id));
      // the newest observations are the ones kept
      const kept = (await s.listObservations('acme', { afterSeq: 0, limit: 100 })).map((r) => r.obsId);
      expect(kept).toEqual(obs.slice(30 - st.queued.observation).map((o) => o.obsId));
      await s.close();
    } finally {
      await own.stop();
    }
  }, 120_000);

  it('has no column for command lines, payload, prompts, paths, users or SIDs', async () => {
    const url = await server.createDatabase('priv');
    await (await PgStore.open(url)).close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const cols = (await c.query<{ c: string }>("SELECT table_name || '.' || column_name AS c FROM information_schema.columns WHERE table_schema = 'public'")).rows.map((r) => r.c);
    await c.end();
    expect(cols.length).toBeGreaterThan(50);
    expect(cols).toContain('observations.payload_entropy');
    expect(cols.filter((x) => FORBIDDEN.test(x.split('.')[1] ?? ''))).toEqual([]);
  });
});
