import { describe, expect, it } from 'vitest';
import { Detector } from '../../src/detect/detector.js';
import { alerts, obs, rig, summary } from './helpers.js';

describe('dedup and idempotence', () => {
  it('repeats update one open alert; a late-join update of the same obsId does not count twice', () => {
    const { store, det } = rig();
    const polled: number[] = [];
    let after = 0;
    const poll = (): void => {
      for (const a of store.listAlertChanges('default', { afterSeq: after, limit: 100 })) {
        polled.push(a.count);
        after = a.seq ?? after;
      }
    };
    for (let i = 0; i < 3; i++) {
      det.onObservation(obs({ id: `r${i}`, atS: 100 + i * 500, proc: 'agent.exe' }));
      poll();
    }
    det.onObservation(obs({ id: 'r1', atS: 600, proc: 'agent.exe', update: true }));
    poll();
    // A poller between observations saw each committed state once, nothing for the re-run.
    expect(polled).toEqual([1, 2, 3]);
    const list = alerts(store);
    expect(summary(list)).toEqual(['h1/high/dev-1/agent.exe']);
    expect(list[0]?.count).toBe(3);
    expect(list[0]?.firstSeenUs).toBeLessThan(list[0]?.lastSeenUs ?? 0);
    expect(list[0]?.evidence.obsIds).toEqual(['r0', 'r1', 'r2']);
    // Without a reader in between, updates within one batch coalesce into one change row.
    for (let i = 3; i < 6; i++) det.onObservation(obs({ id: `r${i}`, atS: 100 + i * 500, proc: 'agent.exe' }));
    expect(store.listAlertChanges('default', { afterSeq: 0, limit: 100 }).map((a) => a.count)).toEqual([1, 2, 3, 6]);
    store.close();
  });

  it('a closed alert is not reopened by a repeat: a new alert with a new id opens', () => {
    const { store, det } = rig();
    det.onObservation(obs({ id: 'a0', atS: 10, proc: 'agent.exe' }));
    const first = alerts(store)[0];
    expect(first).toBeDefined();
    store.setAlertStatus('default', first?.id ?? '', 'closed');
    det.onObservation(obs({ id: 'a1', atS: 20, proc: 'agent.exe' }));
    const list = alerts(store);
    expect(list.length).toBe(2);
    expect(list.find((a) => a.id === first?.id)?.status).toBe('closed');
    expect(list.find((a) => a.id !== first?.id)?.count).toBe(1);
    store.close();
  });

  it('replaying the same input with a fresh detector over the same store changes nothing', () => {
    const { store, det, tenants } = rig();
    const input = [
      ...[0, 50, 110].map((dt, i) => obs({ id: `h${i}`, atS: 100 + dt, device: `d${i}`, proc: 'x.exe', sha256: 'f'.repeat(64) })),
      ...Array.from({ length: 6 }, (_, i) => obs({ id: `s${i}`, atS: 1000 + i * 97, noEdr: true, clientAddr: '10.2.2.2' })),
    ];
    for (const o of input) det.onObservation(o);
    const before = alerts(store);
    const changes = store.listAlertChanges('default', { afterSeq: 0, limit: 1000 }).length;
    const det2 = new Detector({ tenants }, { store });
    for (const o of input) det2.onObservation(o);
    expect(alerts(store)).toEqual(before);
    expect(store.listAlertChanges('default', { afterSeq: 0, limit: 1000 }).length).toBe(changes);
    expect(store.listObservations('default', { afterSeq: 0, limit: 100 }).length).toBe(input.length);
    store.close();
  });
});
