/**
 * The PostgreSQL store's write queue against a real PostgreSQL 15: a write the server rejects
 * for its data is dropped alone (the rest of its batch commits); past `queueMax` during an
 * outage the oldest observation and learning writes are dropped first and counted, alerts kept;
 * and the schema has no column for content, command lines, paths, users or SIDs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Alert, Observation } from '../../../src/records.js';
import { PgStore } from '../../../src/store/pg/store.js';
import { Store } from '../../../src/store/store.js';
import { makeAlert, makeObservation } from '../../api/seed.js';
import { Postgres, usePostgres } from '../../helpers/postgres.js';

const postgres = usePostgres();

/** Same list as test/store/privacy.test.ts. */
const FORBIDDEN = /(command|cmd|argv|args|prompt|response|payload(?!_entropy)|body|content|user|sid$|^sid|path|message)/i;

describe.skipIf(!postgres.present)('PostgreSQL store: queue and schema', () => {
  it('drops only the write the server rejects for its data; the rest of the batch commits', async () => {
    const s = await PgStore.open(await postgres.server.createDatabase('bad'), { flushIntervalMs: 0 });
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

  it('retention removes what the SQLite store removes, from memory and the database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmtap-ret-'));
    const sq = Store.open(join(dir, 'x.db'), { flushIntervalMs: 0, retentionHours: 2 });
    const url = await postgres.server.createDatabase('ret');
    const s = await PgStore.open(url, { flushIntervalMs: 0, retentionHours: 2 });
    const H = 3_600_000_000;
    const old = makeAlert('acme', 'h1', 'high');
    const fresh = makeAlert('acme', 'h7', 'critical', { firstSeenUs: old.firstSeenUs + 3 * H, lastSeenUs: old.firstSeenUs + 3 * H });
    const betaOld = makeAlert('beta', 'h1', 'high', { lastSeenUs: old.lastSeenUs + 0.5 * H });
    const o1 = makeObservation('acme', { tsUs: old.firstSeenUs });
    const o2 = makeObservation('acme', { tsUs: fresh.firstSeenUs });
    const cand = { processName: 'node', provider: 'anthropic', category: 'api' as const, deviceId: 'd', obsId: o1.obsId, tsUs: o1.tsUs };
    for (const st of [sq, s]) {
      for (const a of [old, fresh, betaOld]) st.upsertAlert(a);
      st.contribute(old.id, o1.obsId, o1.tsUs);
      st.contribute(fresh.id, o2.obsId, o2.tsUs);
      st.insertObservation(o1);
      st.insertObservation(o2);
      st.upsertCandidate('acme', cand);
    }
    sq.flush();
    await s.commit();
    // capture time 4 h after `old`: acme keeps alerts 2 h (the default), beta 24 h
    const now = (old.lastSeenUs + 4 * H) / 1000;
    const nSq = sq.runRetention(now, { beta: 24 });
    expect(nSq).toBeGreaterThan(0);
    s.runRetention(now, { beta: 24 });
    expect(s.peekAlert('acme', old.id)).toBeUndefined();
    expect(s.peekAlert('acme', fresh.id)?.id).toBe(fresh.id);
    expect(s.peekAlert('beta', betaOld.id)?.id).toBe(betaOld.id);
    expect(s.hasContributed(old.id, o1.obsId)).toBe(false);
    expect(s.hasContributed(fresh.id, o2.obsId)).toBe(true);
    expect(s.hasContributed('cand:acme:node:anthropic', o1.obsId)).toBe(false);
    await s.commit();
    for (const t of ['acme', 'beta']) {
      const strip = (xs: Alert[]): unknown[] => xs.map((a) => [a.id, a.seq, a.change]);
      expect(strip(await s.listAlertChanges(t, { afterSeq: 0, limit: 100 })), t).toEqual(strip(sq.listAlertChanges(t, { afterSeq: 0, limit: 100 })));
      expect(await s.listObservations(t, { afterSeq: 0, limit: 100 }), t).toEqual(sq.listObservations(t, { afterSeq: 0, limit: 100 }));
    }
    expect((await s.listAlertChanges('acme', { afterSeq: 0, limit: 100 })).map((a) => a.id)).toEqual([fresh.id]);
    expect((await s.listObservations('acme', { afterSeq: 0, limit: 100 })).map((o) => o.obsId)).toEqual([o2.obsId]);
    // a reopened store loads the same state
    const again = await PgStore.open(url, { flushIntervalMs: 0 });
    expect(again.peekAlert('acme', old.id)).toBeUndefined();
    expect(again.peekAlert('acme', fresh.id)?.id).toBe(fresh.id);
    expect(again.hasContributed(old.id, o1.obsId)).toBe(false);
    expect(again.hasContributed(fresh.id, o2.obsId)).toBe(true);
    await again.close();
    sq.close();
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has no column for command lines, payload, prompts, paths, users or SIDs', async () => {
    const url = await postgres.server.createDatabase('priv');
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

describe.skipIf(!postgres.present)('PostgreSQL store: a COMMIT that gets no answer', () => {
  /** Makes the next COMMIT on any connection run (or not) and then fail as a dropped connection does. */
  function dropNextCommit(runIt: boolean): () => void {
    const orig = pg.Client.prototype.query;
    let armed = true;
    pg.Client.prototype.query = function (this: pg.Client, q: unknown, ...rest: unknown[]) {
      if (armed && q === 'COMMIT') {
        armed = false;
        return (orig as (q: string) => Promise<unknown>).call(this, runIt ? 'COMMIT' : 'ROLLBACK').then(() => {
          throw new Error('Connection terminated unexpectedly');
        });
      }
      return (orig as (...a: unknown[]) => unknown).call(this, q, ...rest);
    } as typeof orig;
    return () => {
      pg.Client.prototype.query = orig;
    };
  }

  for (const committed of [true, false]) {
    it(`writes its operations exactly once (the COMMIT ${committed ? 'did' : 'did not'} commit)`, async () => {
      const s = await PgStore.open(await postgres.server.createDatabase('uncertain'), { flushIntervalMs: 0 });
      const a = makeAlert('acme', 'h1', 'high');
      const o = makeObservation('acme');
      s.upsertAlert(a);
      s.insertObservation(o, { h1: true });
      const restore = dropNextCommit(committed);
      try {
        await expect(s.commit()).rejects.toThrow(/Connection terminated/);
      } finally {
        restore();
      }
      expect(s.writable()).toBe(false);
      expect(await s.settle()).toBe(true);
      expect((await s.listAlertChanges('acme', { afterSeq: 0, limit: 10 })).map((c) => [c.id, c.seq])).toEqual([[a.id, 1]]);
      expect((await s.listObservations('acme', { afterSeq: 0, limit: 10 })).map((r) => [r.obsId, r.seq])).toEqual([[o.obsId, 1]]);
      expect(await s.h1RatePerDay('acme')).toEqual([{ day: new Date(o.tsUs / 1000).toISOString().slice(0, 10), h1: 1, observations: 1 }]);
      // later commits go on normally, and the token table stays small
      s.upsertAlert({ ...a, count: 2 });
      await s.commit();
      expect((await s.listAlertChanges('acme', { afterSeq: 1, limit: 10 })).map((c) => [c.seq, c.count])).toEqual([[2, 2]]);
      await s.close();
    });
  }
});
