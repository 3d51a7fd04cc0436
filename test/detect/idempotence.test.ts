import { describe, expect, it } from 'vitest';
import { Detector } from '../../src/detect/detector.js';
import { alerts, obs, rig, summary } from './helpers.js';

describe('dedup and idempotence', () => {
  it('repeats update one open alert; a late-join update of the same obsId does not count twice', () => {
    const { store, det } = rig();
    for (let i = 0; i < 3; i++) det.onObservation(obs({ id: `r${i}`, atS: 100 + i * 500, proc: 'agent.exe' }));
    det.onObservation(obs({ id: 'r1', atS: 600, proc: 'agent.exe', update: true }));
    const list = alerts(store);
    expect(summary(list)).toEqual(['h1/high/dev-1/agent.exe']);
    expect(list[0]?.count).toBe(3);
    expect(list[0]?.firstSeenUs).toBeLessThan(list[0]?.lastSeenUs ?? 0);
    expect(list[0]?.evidence.obsIds).toEqual(['r0', 'r1', 'r2']);
    // 1 create + 2 updates in the change log, nothing for the late-join re-run.
    expect(store.listAlertChanges('default', { afterSeq: 0, limit: 100 }).length).toBe(3);
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
