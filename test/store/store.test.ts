import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/records.js';
import { SCHEMA_VERSION } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';
import { obs, T0 } from '../detect/helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmpDb(): string {
  const d = mkdtempSync(join(tmpdir(), 'llmtap-store-'));
  dirs.push(d);
  return join(d, 'llmtap.db');
}

function alert(tenant: string, id: string, count: number, lastSeenUs = T0): Alert {
  return {
    id,
    tenant,
    heuristic: 'h1',
    severity: 'high',
    status: 'open',
    title: `t ${id}`,
    deviceId: 'dev-1',
    processName: 'agent.exe',
    provider: 'openai',
    count,
    firstSeenUs: T0,
    lastSeenUs,
    evidence: { flowIds: [count], communityIds: [], obsIds: [], bytesOut: 0, bytesIn: 0, detail: {} },
  };
}

describe('store', () => {
  it('a poller following afterSeq sees every create and update exactly once while writes continue', () => {
    const store = Store.open(':memory:', { flushIntervalMs: 0, batchSize: 7 });
    const written: string[] = [];
    const seen: string[] = [];
    let after = 0;
    for (let round = 0; round < 40; round++) {
      for (let k = 0; k < 5; k++) {
        const id = `a${(round * 3 + k) % 11}`;
        const a = store.upsertAlert(alert('t1', id, round * 10 + k));
        written.push(`${id}:${a.count}:${a.seq}`);
        store.upsertAlert(alert('t2', `other${k}`, round));
      }
      // Poll in small pages, between writes.
      for (;;) {
        const page = store.listAlertChanges('t1', { afterSeq: after, limit: 3 });
        if (page.length === 0) break;
        for (const a of page) seen.push(`${a.id}:${a.count}:${a.seq}`);
        after = page[page.length - 1]?.seq ?? after;
      }
    }
    expect(seen).toEqual(written);
    const seqs = seen.map((s) => Number(s.split(':')[2]));
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    store.close();
  });

  it('every read is scoped by tenant; an id of another tenant is neither readable nor writable', () => {
    const store = Store.open(':memory:', { flushIntervalMs: 0 });
    store.upsertAlert(alert('t1', 'x1', 1));
    expect(store.getAlert('t2', 'x1')).toBeUndefined();
    expect(store.setAlertStatus('t2', 'x1', 'closed')).toBeUndefined();
    expect(store.listAlertChanges('t2', { afterSeq: 0, limit: 10 })).toEqual([]);
    expect(() => store.upsertAlert(alert('t2', 'x1', 2))).toThrow(/another tenant/);
    const closed = store.setAlertStatus('t1', 'x1', 'closed');
    expect(closed?.status).toBe('closed');
    expect(store.listAlertChanges('t1', { afterSeq: 0, limit: 10, severity: 'high', heuristic: 'h1' }).map((a) => a.status)).toEqual(['open', 'closed']);
    expect(store.listAlertChanges('t1', { afterSeq: 0, limit: 10, severity: 'low' })).toEqual([]);
    store.addAllowlist('t1', { processName: 'Code.exe', justification: 'IDE' });
    expect(store.listAllowlist('t2')).toEqual([]);
    const e = store.listAllowlist('t1')[0];
    expect(store.removeAllowlist('t2', e?.id ?? 0)).toBe(false);
    expect(store.removeAllowlist('t1', e?.id ?? 0)).toBe(true);
    store.close();
  });

  it('allowlist pins: name case-insensitive, hash, group, provider, expiry', () => {
    const store = Store.open(':memory:', { flushIntervalMs: 0 });
    store.addAllowlist('t', { processName: 'Tool.EXE', binaryHash: 'AB'.repeat(32), provider: 'openai', justification: 'x' });
    store.addAllowlist('t', { processName: 'ci', deviceGroup: 'build', justification: 'y', expiresAtMs: 2000 });
    const q = { processName: 'tool.exe', deviceGroups: [], provider: 'openai', category: 'api' as const, atMs: 1000 };
    expect(store.isAllowlisted('t', { ...q, binaryHash: 'ab'.repeat(32) })).toBeDefined();
    expect(store.isAllowlisted('t', { ...q, binaryHash: 'cd'.repeat(32) })).toBeUndefined();
    expect(store.isAllowlisted('t', { ...q, binaryHash: 'ab'.repeat(32), provider: 'anthropic' })).toBeUndefined();
    const ci = { processName: 'CI', deviceGroups: ['build'], provider: 'openai', category: 'api' as const, atMs: 1000 };
    expect(store.isAllowlisted('t', ci)).toBeDefined();
    expect(store.isAllowlisted('t', { ...ci, deviceGroups: ['office'] })).toBeUndefined();
    expect(store.isAllowlisted('t', { ...ci, atMs: 2000 })).toBeUndefined();
    expect(store.isAllowlisted('u', ci)).toBeUndefined();
    store.close();
  });

  it('observations upsert by obsId with a fresh seq; inventory import validates hashes', () => {
    const store = Store.open(':memory:', { flushIntervalMs: 0 });
    store.insertObservation(obs({ id: 'o1', atS: 1 }));
    store.insertObservation(obs({ id: 'o2', atS: 2, provider: 'anthropic' }));
    const first = store.listObservations('default', { afterSeq: 0, limit: 10 });
    store.insertObservation(obs({ id: 'o1', atS: 1, bytesOut: 99, update: true }));
    const rows = store.listObservations('default', { afterSeq: 0, limit: 10 });
    expect(rows.map((r) => r.obsId)).toEqual(['o2', 'o1']);
    expect(rows[1]?.bytesOut).toBe(99);
    expect(rows[1]?.seq).toBeGreaterThan(first[1]?.seq ?? 0);
    expect(store.listObservations('default', { afterSeq: 0, limit: 10, provider: 'anthropic' }).map((r) => r.obsId)).toEqual(['o2']);
    expect(store.listObservations('default', { afterSeq: 0, limit: 10, deviceId: 'nope' })).toEqual([]);
    store.insertObservation(obs({ id: 'o3', atS: 3, notAi: true }));
    expect(store.listObservations('default', { afterSeq: 0, limit: 10 }).length).toBe(2);
    expect(store.importInventory('default', ['a'.repeat(64), 'b'.repeat(40), 'not-a-hash', 'c'.repeat(63)], 'gold')).toBe(2);
    expect(store.inventoryHas('default', 'A'.repeat(64), 0)).toBe(true);
    expect(store.inventoryHas('other', 'a'.repeat(64))).toBe(false);
    store.close();
  });

  it('retention deletes anomaly rows past TTL (per-tenant alert TTL), keeps learned rows, never reuses a seq', () => {
    const store = Store.open(':memory:', { flushIntervalMs: 0, retentionHours: 24 });
    const H = 3_600_000_000;
    store.upsertAlert(alert('t1', 'old', 1, T0));
    store.upsertAlert(alert('t1', 'new', 1, T0 + 30 * H));
    store.upsertAlert(alert('t2', 'old2', 1, T0));
    store.insertObservation(obs({ id: 'oo', atS: 0, tenant: 't1' }));
    store.addAllowlist('t1', { processName: 'x', justification: 'j' });
    const lastSeq = store.listAlertChanges('t1', { afterSeq: 0, limit: 10 }).at(-1)?.seq ?? 0;
    const deleted = store.runRetention((T0 + 31 * H) / 1000, { t2: 72 });
    expect(deleted).toBeGreaterThanOrEqual(3);
    expect(store.getAlert('t1', 'old')).toBeUndefined();
    expect(store.getAlert('t1', 'new')).toBeDefined();
    expect(store.getAlert('t2', 'old2')).toBeDefined();
    expect(store.listObservations('t1', { afterSeq: 0, limit: 10 })).toEqual([]);
    expect(store.listAllowlist('t1').length).toBe(1);
    store.upsertAlert(alert('t1', 'new', 2, T0 + 31 * H));
    const next = store.listAlertChanges('t1', { afterSeq: lastSeq, limit: 10 });
    expect(next.length).toBe(1);
    expect(next[0]?.seq).toBeGreaterThan(lastSeq);
    store.close();
  });

  it('migrations run once, survive reopen, and a newer schema is refused', () => {
    const path = tmpDb();
    Store.open(path).close();
    const s2 = Store.open(path);
    expect(s2.writable()).toBe(true);
    s2.close();
    const raw = new Database(path);
    expect(raw.prepare('SELECT COUNT(*) AS n FROM migrations').get()).toEqual({ n: SCHEMA_VERSION });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.prepare('INSERT INTO migrations VALUES (?, ?)').run(SCHEMA_VERSION + 1, 0);
    raw.close();
    expect(() => Store.open(path)).toThrow(/newer than this llmtap/);
  });

  it('a corrupt file gives a coded error naming the file', () => {
    const path = tmpDb();
    writeFileSync(path, Buffer.alloc(8192, 0x5a));
    expect(() => Store.open(path)).toThrow(expect.objectContaining({ code: 'LLMTAP_ERR_STORE_OPEN', message: expect.stringContaining(path) }));
  });

  it('a batch is invisible to API reads until committed, and reads commit it first', () => {
    const path = tmpDb();
    const store = Store.open(path, { flushIntervalMs: 0, batchSize: 1000 });
    store.upsertAlert(alert('t1', 'b1', 1));
    const other = new Database(path, { readonly: true });
    expect(other.prepare('SELECT COUNT(*) AS n FROM alerts').get()).toEqual({ n: 0 });
    expect(store.getAlert('t1', 'b1')?.count).toBe(1);
    expect(other.prepare('SELECT COUNT(*) AS n FROM alerts').get()).toEqual({ n: 1 });
    other.close();
    store.close();
  });
});
