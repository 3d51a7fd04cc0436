/**
 * Storage faults on real file systems: a full tmpfs, an immutable (read-only) database file and
 * a second connection holding the write lock. Each fault is one episode (one `started` and one
 * `cleared` event with the number of writes it held), shows in `status()`, queues detect's
 * writes (detect's reads see the queued alerts), refuses API writes, and when it clears every
 * queued write lands; what was committed before is never touched.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/records.js';
import { Store, StoreFaultError, type StoreFaultEvent } from '../../src/store/store.js';
import { WriteQueue } from '../../src/store/faults.js';
import { obs, T0 } from '../detect/helpers.js';
import { faultsUnavailable, immutableCapableDir, mountTmpfs, setImmutable } from '../helpers/fs-faults.js';

const ci = process.env['CI'] === 'true';
const missing = faultsUnavailable();
if (ci && missing !== undefined) it('storage fault prerequisites', () => { throw new Error(missing); });

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function alert(id: string, count: number): Alert {
  return {
    id,
    tenant: 't1',
    heuristic: 'h1',
    severity: 'high',
    status: 'open',
    title: `alert ${id}`,
    deviceId: 'dev-1',
    processName: 'agent.exe',
    provider: 'openai',
    count,
    firstSeenUs: T0,
    lastSeenUs: T0 + count,
    // a little bulk so a few hundred alerts outgrow the WAL the first commit left behind
    evidence: { flowIds: [count], communityIds: [], obsIds: [], bytesOut: 0, bytesIn: 0, detail: { pad: 'x'.repeat(1500) } },
  };
}

function ids(store: Store): string[] {
  return store.listAlertChanges('t1', { afterSeq: 0, limit: 10_000 }).map((a) => `${a.id}:${a.count}`);
}

describe.skipIf(missing !== undefined)('storage faults', () => {
  it('a full disk: writes queue, one episode, status and API writes say so; freed, every queued write lands once', () => {
    const fs = mountTmpfs(8192);
    cleanups.push(fs.cleanup);
    const events: StoreFaultEvent[] = [];
    const db = join(fs.dir, 'llmtap.db');
    const store = Store.open(db, { flushIntervalMs: 0, batchSize: 50, retryIntervalMs: 0, onFault: (e) => events.push(e) });
    cleanups.push(() => store.close());
    store.upsertAlert(alert('committed', 1), 'k-committed');
    store.flush();
    expect(store.writable()).toBe(true);

    const filler = fs.fill();
    for (let i = 0; i < 300; i++) store.upsertAlert(alert(`a${i}`, i), `k${i}`);
    for (let i = 0; i < 40; i++) store.insertObservation({ ...obs({ id: `o${i}`, atS: i }), tenant: 't1' }, { h1: false });
    store.flush();

    const st = store.status();
    expect(st.writable).toBe(false);
    expect(st.reason).toBe('full');
    expect(st.code).toBe('SQLITE_FULL');
    expect(st.queued).toEqual({ alert: 300, observation: 40, other: 0 });
    expect(st.dropped).toEqual({ alert: 0, observation: 0, other: 0 });
    expect(st.episodes).toEqual({ full: 1 });
    expect(events).toEqual([{ state: 'started', path: db, reason: 'full', code: 'SQLITE_FULL', message: 'database or disk is full' }]);
    // detect's reads see the queued alerts (deduplication keeps working during the fault)
    expect(store.openAlertByKey('t1', 'k7')?.id).toBe('a7');
    expect(store.peekAlert('t1', 'a299')?.count).toBe(299);
    // an update while full replaces the queued alert in place
    store.upsertAlert(alert('a7', 1007), 'k7');
    expect(store.status().queued.alert).toBe(300);
    // the API refuses writes instead of queueing them; reads still serve what was committed
    expect(() => store.setAlertStatus('t1', 'committed', 'closed')).toThrow(StoreFaultError);
    expect(ids(store)).toEqual(['committed:1']);
    // retries while still full change nothing and log nothing more
    expect(store.settle()).toBe(false);
    expect(events).toHaveLength(1);

    rmSync(filler);
    expect(store.settle(), JSON.stringify(store.status())).toBe(true);
    expect(store.writable()).toBe(true);
    expect(events[1]).toEqual({ state: 'cleared', path: db, reason: 'full', writes: 341, dropped: 0, seconds: expect.any(Number) as number });
    expect(store.status().queued).toEqual({ alert: 0, observation: 0, other: 0 });
    const want = ['committed:1', ...Array.from({ length: 300 }, (_, i) => `a${i}:${i === 7 ? 1007 : i}`)];
    expect(ids(store).sort()).toEqual(want.sort());
    expect(store.listObservations('t1', { afterSeq: 0, limit: 1000 }).map((o) => o.obsId).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `o${i}`).sort());
    store.close();
    // reopened from disk: the same rows, the file intact
    const check = new Database(db, { readonly: true });
    expect((check.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check).toBe('ok');
    expect((check.prepare('SELECT COUNT(*) AS n FROM alerts').get() as { n: number }).n).toBe(301);
    check.close();
  });

  it('a read-only (immutable) database file: queued until it is writable again, then stored', () => {
    const scratch = immutableCapableDir();
    cleanups.push(scratch.cleanup);
    const db = join(scratch.dir, 'llmtap.db');
    const first = Store.open(db, { flushIntervalMs: 0 });
    first.upsertAlert(alert('committed', 1), 'k-committed');
    first.close();
    setImmutable(db, true);
    cleanups.push(() => setImmutable(db, false));

    const events: StoreFaultEvent[] = [];
    const store = Store.open(db, { flushIntervalMs: 0, retryIntervalMs: 0, onFault: (e) => events.push(e) });
    cleanups.push(() => store.close());
    for (let i = 0; i < 5; i++) store.upsertAlert(alert(`r${i}`, i), `k${i}`);
    store.flush();
    expect(store.status()).toMatchObject({ writable: false, reason: 'readonly', code: 'SQLITE_READONLY', queued: { alert: 5, observation: 0, other: 0 } });
    expect(events.map((e) => `${e.state}:${e.reason}`)).toEqual(['started:readonly']);
    expect(store.settle()).toBe(false);

    setImmutable(db, false);
    expect(store.settle()).toBe(true);
    expect(events.map((e) => e.state === 'cleared' ? `cleared:${e.reason}:${e.writes}` : e.state)).toEqual(['started', 'cleared:readonly:5']);
    expect(ids(store).sort()).toEqual(['committed:1', 'r0:0', 'r1:1', 'r2:2', 'r3:3', 'r4:4']);
  });

  it('a database locked by another connection: no wait while the fault lasts, stored once the lock is released', () => {
    const scratch = immutableCapableDir();
    cleanups.push(scratch.cleanup);
    const db = join(scratch.dir, 'llmtap.db');
    const events: StoreFaultEvent[] = [];
    const store = Store.open(db, { flushIntervalMs: 0, busyTimeoutMs: 100, retryIntervalMs: 0, onFault: (e) => events.push(e) });
    cleanups.push(() => store.close());
    store.upsertAlert(alert('committed', 1), 'k-committed');
    store.flush();

    const other = new Database(db);
    cleanups.push(() => other.close());
    other.exec('BEGIN EXCLUSIVE');
    other.prepare("INSERT INTO tenant_state (tenant, first_obs_us) VALUES ('other', 1)").run();
    store.upsertAlert(alert('l0', 0), 'k0');
    store.contribute('l0', 'obs-1', T0);
    expect(store.status()).toMatchObject({ writable: false, reason: 'busy', code: 'SQLITE_BUSY', queued: { alert: 2, observation: 0, other: 0 } });
    // during the fault a contribution is answered from the queue: counted once
    expect(store.contribute('l0', 'obs-1', T0)).toBe(false);
    expect(store.contribute('l0', 'obs-2', T0)).toBe(true);
    expect(store.hasContributed('l0', 'obs-2')).toBe(true);
    const t0 = Date.now();
    for (let i = 1; i < 20; i++) store.upsertAlert(alert(`l${i}`, i), `k${i}`);
    expect(store.settle()).toBe(false);
    expect(Date.now() - t0).toBeLessThan(100 * 19); // nothing waits for the lock once the fault is known

    other.exec('COMMIT');
    expect(store.settle()).toBe(true);
    expect(events.map((e) => e.state === 'cleared' ? `cleared:${e.reason}:${e.writes}` : `started:${e.reason}`)).toEqual(['started:busy', 'cleared:busy:23']); // every write call held, the repeated contribution included
    expect(ids(store)).toHaveLength(21);
    expect(store.hasContributed('l0', 'obs-1') && store.hasContributed('l0', 'obs-2')).toBe(true);
    expect((other.prepare("SELECT first_obs_us AS f FROM tenant_state WHERE tenant = 'other'").get() as { f: number }).f).toBe(1);
  });
});

describe('the fault queue', () => {
  it('is bounded: drops the oldest non-alert writes first, then the oldest alerts, and counts them', () => {
    const q = new WriteQueue(10);
    const run = (): void => undefined;
    for (let i = 0; i < 8; i++) q.add({ kind: 'observation', key: `o:${i}`, run });
    for (let i = 0; i < 6; i++) q.add({ kind: 'alert', key: `a:t\0a${i}`, run, alert: alert(`a${i}`, i) }, `k${i}`);
    expect(q.depth).toEqual({ alert: 6, observation: 4, other: 0 });
    expect(q.dropped).toEqual({ alert: 0, observation: 4, other: 0 });
    for (let i = 6; i < 12; i++) q.add({ kind: 'alert', key: `a:t\0a${i}`, run, alert: alert(`a${i}`, i) }, `k${i}`);
    expect(q.depth).toEqual({ alert: 10, observation: 0, other: 0 });
    expect(q.dropped).toEqual({ alert: 2, observation: 8, other: 0 });
    expect(q.droppedAlerts.map((a) => a.id)).toEqual(['a0', 'a1']);
    expect(q.openAlertByKey('t1', 'k0')).toBeUndefined();
    expect(q.openAlertByKey('t1', 'k2')?.id).toBe('a2');
    // a repeat of a queued key replaces it in place: no growth, no drop
    q.add({ kind: 'alert', key: 'a:t\0a5', run, alert: alert('a5', 55) }, 'k5');
    expect(q.size).toBe(10);
    expect(q.alert('t1', 'a5')?.count).toBe(55);
    // replay order: alerts first; consumed in that order
    expect(q.peek(3).map((w) => w.alert?.id)).toEqual(['a2', 'a3', 'a4']);
    q.consume(3);
    expect(q.size).toBe(7);
    expect(q.alert('t1', 'a2')).toBeUndefined();
  });
});
