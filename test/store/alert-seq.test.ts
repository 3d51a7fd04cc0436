/**
 * Alert change and observation sequence numbers are per tenant: one tenant's SIEM sees 1, 2,
 * 3, … whatever the other tenants do, so a gap can never reveal another tenant's activity. A
 * database written with the former global sequences keeps its pollers' cursors valid across
 * the migration.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/records.js';
import { migrate } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';
import { T0, obs } from '../detect/helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function alert(tenant: string, id: string, count: number): Alert {
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
    lastSeenUs: T0 + count,
    evidence: { flowIds: [count], communityIds: [], obsIds: [], bytesOut: 0, bytesIn: 0, detail: {} },
  };
}

describe('per-tenant alert sequence', () => {
  it("numbers each tenant's changes consecutively, whatever other tenants write in between", () => {
    const store = Store.open(':memory:', { flushIntervalMs: 0 });
    const t1: number[] = [];
    for (let i = 0; i < 30; i++) {
      // t2 writes a varying number of changes between t1's: with one global sequence t1 would see gaps.
      for (let k = 0; k < i % 4; k++) store.upsertAlert(alert('t2', `b${k}`, i * 10 + k));
      t1.push(store.upsertAlert(alert('t1', `a${i % 7}`, i)).seq ?? -1);
    }
    store.setAlertStatus('t1', 'a0', 'closed');
    expect(t1).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(store.listAlertChanges('t1', { afterSeq: 0, limit: 100 }).map((a) => a.seq)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
    const t2 = store.listAlertChanges('t2', { afterSeq: 0, limit: 100 }).map((a) => a.seq);
    expect(t2).toEqual(Array.from({ length: t2.length }, (_, i) => i + 1));
    expect(t2.length).toBe(43);
    store.close();
  });

  it('keeps cursors issued under the global sequence valid across the migration', () => {
    const d = mkdtempSync(join(tmpdir(), 'llmtap-seq-'));
    dirs.push(d);
    const path = join(d, 'llmtap.db');
    // A version-1 database: one global sequence shared by both tenants.
    const raw = new Database(path);
    migrate(raw, 0, 1);
    const ins = raw.prepare("INSERT INTO alert_changes (tenant, alert_id, heuristic, severity, alert_json) VALUES (?, ?, 'h1', 'high', ?)");
    const alertRow = raw.prepare(
      "INSERT OR REPLACE INTO alerts (id, tenant, heuristic, severity, status, dedup_key, first_seen_us, last_seen_us, seq, alert_json) VALUES (?, ?, 'h1', 'high', 'open', ?, 0, 0, ?, ?)",
    );
    const oldSeqs: Record<string, number[]> = { t1: [], t2: [] };
    for (const [tenant, id] of [['t1', 'x'], ['t2', 'y'], ['t2', 'y'], ['t1', 'x'], ['t2', 'z']] as const) {
      const body = JSON.stringify({ ...alert(tenant, id, 1), seq: undefined });
      const seq = Number(ins.run(tenant, id, body).lastInsertRowid);
      alertRow.run(id, tenant, `k-${id}`, seq, body);
      oldSeqs[tenant]!.push(seq);
    }
    // The newest change (t2's seq 5) was removed by retention: its number must not come back.
    raw.prepare('DELETE FROM alert_changes WHERE seq = 5').run();
    raw.close();
    expect(oldSeqs).toEqual({ t1: [1, 4], t2: [2, 3, 5] });

    const store = Store.open(path, { flushIntervalMs: 0 });
    // Old rows keep their numbers; a poller's stored cursor (t1 at 4, t2 at 3) sees exactly the new changes.
    expect(store.listAlertChanges('t1', { afterSeq: 0, limit: 10 }).map((a) => a.seq)).toEqual([1, 4]);
    store.upsertAlert(alert('t1', 'x', 2));
    store.upsertAlert(alert('t2', 'y', 2));
    store.upsertAlert(alert('t1', 'w', 1));
    expect(store.listAlertChanges('t1', { afterSeq: 4, limit: 10 }).map((a) => [a.id, a.seq])).toEqual([['x', 6], ['w', 7]]);
    expect(store.listAlertChanges('t2', { afterSeq: 3, limit: 10 }).map((a) => [a.id, a.seq])).toEqual([['y', 6]]);
    // A tenant that never had an alert starts above every number issued before, too.
    expect(store.upsertAlert(alert('t3', 'v', 1)).seq).toBe(6);
    store.close();
  });

  it("numbers each tenant's observations consecutively; an update takes the tenant's next number", () => {
    const store = Store.open(':memory:', { flushIntervalMs: 0 });
    for (let i = 0; i < 20; i++) {
      for (let k = 0; k < i % 3; k++) store.insertObservation(obs({ id: `o2-${i}-${k}`, atS: i, tenant: 't2' }));
      store.insertObservation(obs({ id: `o1-${i}`, atS: i, tenant: 't1' }));
    }
    store.insertObservation(obs({ id: 'o1-3', atS: 3, tenant: 't1', update: true, bytesOut: 99 }));
    const t1 = store.listObservations('t1', { afterSeq: 0, limit: 100 });
    expect(t1.map((o) => o.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1).filter((n) => n !== 4).concat([21]));
    expect(t1.at(-1)).toMatchObject({ obsId: 'o1-3', bytesOut: 99, seq: 21 });
    const t2 = store.listObservations('t2', { afterSeq: 0, limit: 100 }).map((o) => o.seq);
    expect(t2).toEqual(Array.from({ length: 19 }, (_, i) => i + 1));
    store.close();
  });

  it('keeps observation cursors issued under the global sequence valid across the migration', () => {
    const d = mkdtempSync(join(tmpdir(), 'llmtap-oseq-'));
    dirs.push(d);
    const path = join(d, 'llmtap.db');
    const raw = new Database(path);
    migrate(raw, 0, 3);
    const ins = raw.prepare(
      `INSERT INTO observations (obs_id, tenant, kind, ts_us, last_ts_us, client_addr, server_addr, server_port, proto, host_source, category, provider, rule_id, sanctioned, bytes_out, bytes_in, h1)
       VALUES (?, ?, 'flow', 1, 2, '10.0.0.1', '10.0.0.2', 443, 6, 'sni', 'api', 'OpenAI', 'openai-api', 0, 1, 1, 0)`,
    );
    for (const [id, tenant] of [['a', 't1'], ['b', 't2'], ['c', 't1']] as const) ins.run(id, tenant);
    raw.close();
    const store = Store.open(path, { flushIntervalMs: 0 });
    expect(store.listObservations('t1', { afterSeq: 0, limit: 10 }).map((o) => [o.obsId, o.seq])).toEqual([['a', 1], ['c', 3]]);
    store.insertObservation(obs({ id: 'n1', atS: 1, tenant: 't1' }));
    store.insertObservation(obs({ id: 'n2', atS: 1, tenant: 't2' }));
    expect(store.listObservations('t1', { afterSeq: 3, limit: 10 }).map((o) => [o.obsId, o.seq])).toEqual([['n1', 4]]);
    expect(store.listObservations('t2', { afterSeq: 2, limit: 10 }).map((o) => [o.obsId, o.seq])).toEqual([['n2', 4]]);
    store.close();
  });
});
