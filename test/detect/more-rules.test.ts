import { describe, expect, it } from 'vitest';
import { defaultTenantConfig } from '../../src/tenants/schema.js';
import { alerts, obs, rig, summary } from './helpers.js';

describe('upload ratio, tenant isolation, tick', () => {
  it('one connection far above the provider out/in baseline fires upload (ratio) once the baseline exists', () => {
    const { store, det } = rig();
    store.addAllowlist('default', { processName: 'python.exe', justification: 'x' });
    const r = [1, 3, 2, 5, 4];
    for (let i = 0; i < 25; i++) {
      // Ordinary chat calls: ~2 KB out, ~6 KB in, irregular timing.
      det.onObservation(obs({ id: `b${i}`, atS: i * 97 + (r[i % 5] ?? 0) * 13, device: `dev-${i % 4}`, bytesOut: 2000 + (i % 7) * 50, bytesIn: 6000 }));
    }
    expect(alerts(store)).toEqual([]);
    det.onObservation(obs({ id: 'big', atS: 5000, device: 'dev-2', bytesOut: 2_000_000, bytesIn: 6000 }));
    const list = alerts(store);
    expect(summary(list)).toEqual(['upload/high/dev-2/python.exe']);
    expect(list[0]?.evidence.detail['reason']).toBe('ratio');
    store.close();
  });

  it('the same hash on 3 devices of 3 different tenants is not an H7', () => {
    const t = (id: string, cidr: string) => ({ ...defaultTenantConfig(id), warmup_days: 0, cidrs: [cidr] });
    const { store, det } = rig([t('a', '10.1.0.0/16'), t('b', '10.2.0.0/16'), t('c', '10.3.0.0/16')]);
    ['10.1.0.5', '10.2.0.5', '10.3.0.5'].forEach((addr, i) =>
      det.onObservation(obs({ id: `t${i}`, tenant: ['a', 'b', 'c'][i]!, atS: 10 + i * 20, clientAddr: addr, device: `dev-${i}`, proc: 'w.exe', sha256: '9'.repeat(64) })),
    );
    for (const id of ['a', 'b', 'c']) expect(summary(alerts(store, id))).toEqual([`h1/high/dev-${['a', 'b', 'c'].indexOf(id)}/w.exe`]);
    store.close();
  });

  it('tick prunes windows and runs retention by capture time', () => {
    const { store, det } = rig([{ ...defaultTenantConfig(), warmup_days: 0, alert_ttl_hours: 1 }]);
    for (let i = 0; i < 4; i++) det.onObservation(obs({ id: `s${i}`, atS: i * 60, noEdr: true, clientAddr: '10.7.7.7' }));
    det.tick(obs({ id: 'x', atS: 4000 }).tsUs);
    // The 4 earlier calls fell out of the 1 h window: 2 more do not reach 5.
    for (let i = 0; i < 2; i++) det.onObservation(obs({ id: `s${4 + i}`, atS: 4000 + i * 60, noEdr: true, clientAddr: '10.7.7.7' }));
    expect(alerts(store)).toEqual([]);
    det.onObservation(obs({ id: 'h', atS: 4100, proc: 'agent.exe' }));
    expect(alerts(store).length).toBe(1);
    det.tick(obs({ id: 'y', atS: 4100 + 2 * 3600 }).tsUs);
    expect(alerts(store)).toEqual([]);
    expect(det.stats()['detect.retention_deleted']).toBeGreaterThan(0);
    store.close();
  });
});
