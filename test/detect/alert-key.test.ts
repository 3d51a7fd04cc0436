import { describe, expect, it } from 'vitest';
import { alertDedupKey } from '../../src/detect/alert-key.js';
import type { Alert } from '../../src/records.js';
import { alerts, obs, rig, T0 } from './helpers.js';

describe('alert dedup key (owned by detect, used by the store)', () => {
  it('device id before client address, process case-insensitive, H7 on the hash', () => {
    const base = { heuristic: 'h1' as const, clientAddr: '10.1.0.10', processName: 'Python.EXE', provider: 'openai' };
    const byAddr = alertDedupKey(base);
    const byDev = alertDedupKey({ ...base, deviceId: 'dev-1' });
    expect(byAddr).not.toBe(byDev);
    expect(byAddr).toContain('10.1.0.10');
    expect(byDev).not.toContain('10.1.0.10');
    expect(alertDedupKey({ ...base, processName: 'python.exe' })).toBe(byAddr);
    expect(alertDedupKey({ ...base, provider: 'anthropic' })).not.toBe(byAddr);
    // H7 is about a binary, not a process: the process name does not split it, the hash does,
    // and a SHA-1-only hash (binHash) is preferred over an absent SHA-256.
    const h7 = { heuristic: 'h7' as const, provider: 'openai', sha256: 'aa' };
    expect(alertDedupKey({ ...h7, processName: 'a.exe' })).toBe(alertDedupKey({ ...h7, processName: 'b.exe' }));
    expect(alertDedupKey({ ...h7, sha256: 'bb' })).not.toBe(alertDedupKey(h7));
    expect(alertDedupKey({ ...h7, binHash: 'cc' })).not.toBe(alertDedupKey(h7));
  });

  it('an alert the store keyed itself is the one detect updates', () => {
    const r = rig();
    // Written without a key (as the API and older rows do): the store computes it.
    const seeded: Alert = {
      id: 'al_seeded',
      tenant: 'default',
      heuristic: 'h1',
      severity: 'high',
      status: 'open',
      title: 'seeded',
      deviceId: 'dev-1',
      clientAddr: '10.1.0.10',
      processName: 'Python.exe',
      provider: 'openai',
      count: 1,
      firstSeenUs: T0,
      lastSeenUs: T0,
      evidence: { flowIds: [], communityIds: [], obsIds: [], bytesOut: 0, bytesIn: 0, detail: {} },
    };
    r.store.upsertAlert(seeded);
    r.det.onObservation(obs({ id: 'o1', atS: 60, device: 'dev-1', proc: 'python.exe', provider: 'openai' }));
    r.det.tick(T0 + 120e6);
    const h1 = alerts(r.store).filter((a) => a.heuristic === 'h1');
    expect(h1.map((a) => a.id)).toEqual(['al_seeded']);
    expect(h1[0]?.count).toBe(2);
    expect(h1[0]?.evidence.obsIds).toEqual(['o1']);
    // A different process is a different alert.
    r.det.onObservation(obs({ id: 'o2', atS: 90, device: 'dev-1', proc: 'node.exe', provider: 'openai' }));
    r.det.tick(T0 + 200e6);
    expect(alerts(r.store).filter((a) => a.heuristic === 'h1')).toHaveLength(2);
    expect(r.det.stats()['detect.error'] ?? 0).toBe(0);
    expect(r.det.stats()['detect.store_error'] ?? 0).toBe(0);
    r.store.close();
  });
});
