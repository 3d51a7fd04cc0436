import { describe, expect, it } from 'vitest';
import { defaultTenantConfig } from '../../src/tenants/schema.js';
import { alerts, DAY_S, obs, prng, rig, summary } from './helpers.js';

const HASH_A = 'a'.repeat(63) + '1';
const HASH_EVIL = 'e'.repeat(63) + '7';

describe('scenarios: each fires exactly the expected alerts', () => {
  it('sanctioned browser to an assistant: no alert (and the same connection unsanctioned does fire)', () => {
    const cfg = { ...defaultTenantConfig(), warmup_days: 0, h1_categories: ['api' as const, 'assistant' as const] };
    const { store, det } = rig([cfg]);
    const r = prng(1);
    let t = 0;
    for (let i = 0; i < 4; i++) {
      t += 20 + r() * 600;
      det.onObservation(obs({ id: `b${i}`, atS: t, proc: 'chrome.exe', host: 'chatgpt.com', provider: 'openai', category: 'assistant', sanctioned: true, bytesOut: 3000 + Math.floor(r() * 90000) }));
    }
    expect(alerts(store)).toEqual([]);
    // Control: the identical connection from the same browser, endpoint not sanctioned.
    det.onObservation(obs({ id: 'b-ctl', atS: t + 5, proc: 'chrome.exe', host: 'chatgpt.com', provider: 'openai', category: 'assistant' }));
    expect(summary(alerts(store))).toEqual(['h1/high/dev-1/chrome.exe']);
    store.close();
  });

  it('web-server worker polling an API host on a fixed cadence: H1 (critical) + beacon, nothing else', () => {
    const { store, det } = rig();
    const r = prng(7);
    for (let i = 0; i < 12; i++) {
      const at = 1000 + i * 30 + (r() - 0.5) * 0.6;
      det.onObservation(obs({ id: `w${i}`, atS: at, device: 'web-01', proc: 'w3wp.exe', sha256: HASH_A, lineage: 'L-svc', parent: 'svchost.exe', bytesOut: 1480 + Math.floor(r() * 40) }));
    }
    const list = alerts(store);
    expect(summary(list)).toEqual(['beacon/high/web-01/w3wp.exe', 'h1/critical/web-01/w3wp.exe']);
    const h1 = list.find((a) => a.heuristic === 'h1');
    expect(h1?.count).toBe(12);
    const beacon = list.find((a) => a.heuristic === 'beacon');
    expect(beacon?.evidence.detail['medianIntervalS']).toBeCloseTo(30, 0);
    expect(Number(beacon?.evidence.detail['score'])).toBeGreaterThanOrEqual(0.8);
    expect(beacon?.count).toBe(12);
    expect(beacon?.evidence.flowIds.length).toBe(12);
    store.close();
  });

  it('an allowlisted process polling at random intervals: no beacon, no H1', () => {
    const { store, det } = rig();
    store.addAllowlist('default', { processName: 'Python.exe', justification: 'data team notebooks' });
    const r = prng(99);
    let t = 0;
    for (let i = 0; i < 30; i++) {
      t += -Math.log(1 - r()) * 60; // Poisson arrivals, mean 60 s
      det.onObservation(obs({ id: `p${i}`, atS: t, proc: 'python.exe', bytesOut: 500 + Math.floor(r() * 20000) }));
    }
    expect(alerts(store)).toEqual([]);
    store.close();
  });

  it('a new binary on 3 devices within 2 minutes: H7 (critical) linking the three H1 alerts', () => {
    const { store, det } = rig();
    // Unrelated history so the inventory is not empty.
    det.onObservation(obs({ id: 'old', atS: 0, device: 'dev-9', proc: 'code.exe', sha256: HASH_A, notAi: true }));
    [0, 50, 110].forEach((dt, i) =>
      det.onObservation(obs({ id: `e${i}`, atS: 3600 + dt, device: `dev-${i + 1}`, proc: 'updater.exe', sha256: HASH_EVIL })),
    );
    const list = alerts(store);
    expect(summary(list)).toEqual([
      'h1/high/dev-1/updater.exe',
      'h1/high/dev-2/updater.exe',
      'h1/high/dev-3/updater.exe',
      'h7/critical/-/updater.exe',
    ]);
    const h7 = list.find((a) => a.heuristic === 'h7');
    const h1Ids = list.filter((a) => a.heuristic === 'h1').map((a) => a.id).sort();
    expect([...(h7?.related ?? [])].sort()).toEqual(h1Ids);
    expect(h7?.evidence.detail['deviceCount']).toBe(3);
    expect(h7?.sha256).toBe(HASH_EVIL);
    store.close();
  });

  it('H7 does not fire for a hash in the inventory, does fire on SHA-1 alone, and needs the window', () => {
    const { store, det } = rig();
    store.importInventory('default', [HASH_EVIL], 'golden-image');
    [0, 50, 110].forEach((dt, i) => det.onObservation(obs({ id: `k${i}`, atS: 100 + dt, device: `dev-${i + 1}`, proc: 'updater.exe', sha256: HASH_EVIL })));
    expect(alerts(store).filter((a) => a.heuristic === 'h7')).toEqual([]);
    const sha1 = '5'.repeat(40);
    [0, 40, 80].forEach((dt, i) => det.onObservation(obs({ id: `s${i}`, atS: 1000 + dt, device: `dev-${i + 1}`, proc: 'tool.exe', sha1 })));
    const h7 = alerts(store).filter((a) => a.heuristic === 'h7');
    expect(h7.length).toBe(1);
    expect(h7[0]?.evidence.detail['hashType']).toBe('sha1');
    // Spread slower than the 300 s window: no H7.
    const slow = 'c'.repeat(64);
    [0, 200, 400].forEach((dt, i) => det.onObservation(obs({ id: `z${i}`, atS: 5000 + dt, device: `dev-${i + 1}`, proc: 'slow.exe', sha256: slow })));
    expect(alerts(store).filter((a) => a.heuristic === 'h7').length).toBe(1);
    store.close();
  });

  it('a 50 MB upload from an allowlisted tool: one upload alert, nothing else', () => {
    const { store, det } = rig();
    store.addAllowlist('default', { processName: 'python.exe', provider: 'openai', justification: 'batch jobs' });
    for (let i = 0; i < 5; i++) det.onObservation(obs({ id: `u${i}`, atS: 100 + i * 120, bytesOut: 10_000_000, bytesIn: 20_000 }));
    const list = alerts(store);
    expect(summary(list)).toEqual(['upload/high/dev-1/python.exe']);
    expect(list[0]?.evidence.bytesOut).toBe(50_000_000);
    expect(list[0]?.count).toBe(5);
    // Below threshold on another device: nothing.
    det.onObservation(obs({ id: 'u-small', atS: 900, device: 'dev-2', bytesOut: 9_000_000 }));
    expect(alerts(store).length).toBe(1);
    store.close();
  });

  it('an unseen parent: one lineage alert, a known parent stays quiet', () => {
    const { store, det } = rig();
    store.addAllowlist('default', { processName: 'python.exe', justification: 'analytics' });
    det.onObservation(obs({ id: 'l0', atS: 10, proc: 'python.exe', lineage: 'L-explorer', parent: 'explorer.exe' }));
    det.onObservation(obs({ id: 'l1', atS: 700, proc: 'python.exe', lineage: 'L-explorer', parent: 'explorer.exe' }));
    expect(alerts(store)).toEqual([]);
    det.onObservation(obs({ id: 'l2', atS: 1500, proc: 'python.exe', lineage: 'L-w3wp', parent: 'w3wp.exe' }));
    const list = alerts(store);
    expect(summary(list)).toEqual(['lineage/medium/dev-1/python.exe']);
    expect(list[0]?.evidence.detail['parentName']).toBe('w3wp.exe');
    store.close();
  });

  it('a device without EDR making 6 calls: one shadow-volume alert (4 calls: none)', () => {
    const { store, det } = rig();
    const r = prng(3);
    let t = 0;
    for (let i = 0; i < 4; i++) {
      t += 30 + r() * 300;
      det.onObservation(obs({ id: `q${i}`, atS: t, noEdr: true, clientAddr: '10.9.0.4', host: 'api.anthropic.com', provider: 'anthropic' }));
    }
    expect(alerts(store)).toEqual([]);
    t = 10_000;
    for (let i = 0; i < 6; i++) {
      t += 30 + r() * 300;
      det.onObservation(obs({ id: `n${i}`, atS: t, noEdr: true, clientAddr: '10.9.0.5', host: 'api.anthropic.com', provider: 'anthropic' }));
    }
    const list = alerts(store);
    expect(summary(list)).toEqual(['shadow_volume/medium/10.9.0.5/-']);
    expect(list[0]?.count).toBe(6);
    expect(list[0]?.evidence.detail['connections']).toBe(6);
    store.close();
  });

  it('warm-up suppresses H1 (learning alerts, candidates), approval allowlists, then H1 is released', () => {
    const { store, det } = rig([defaultTenantConfig()]);
    det.onObservation(obs({ id: 'first', atS: 0, proc: 'chrome.exe', host: 'chatgpt.com', category: 'assistant' }));
    det.onObservation(obs({ id: 'c1', atS: DAY_S, proc: 'Cursor.exe', device: 'dev-1' }));
    det.onObservation(obs({ id: 'c2', atS: 2 * DAY_S, proc: 'cursor.exe', device: 'dev-2' }));
    det.onObservation(obs({ id: 'x1', atS: 3 * DAY_S, proc: 'ci-runner', device: 'build-1' }));
    expect(summary(alerts(store))).toEqual(['learning/low/build-1/ci-runner', 'learning/low/dev-1/Cursor.exe', 'learning/low/dev-2/cursor.exe']);
    const cands = store.listCandidates('default');
    const cursor = cands.find((c) => c.processName === 'cursor.exe');
    expect(cursor?.count).toBe(2);
    expect(cursor?.devices.sort()).toEqual(['dev-1', 'dev-2']);
    expect(store.approveCandidate('default', cursor?.id ?? -1, 'IDE used by engineering')).toBeDefined();
    // After the 14 days: the approved tool is quiet, the other fires H1.
    det.onObservation(obs({ id: 'c3', atS: 15 * DAY_S, proc: 'cursor.exe', device: 'dev-3' }));
    det.onObservation(obs({ id: 'x2', atS: 15 * DAY_S + 60, proc: 'ci-runner', device: 'build-1' }));
    const after = summary(alerts(store));
    expect(after.filter((s) => s.startsWith('h1/'))).toEqual(['h1/high/build-1/ci-runner']);
    const rate = store.h1RatePerDay('default');
    expect(rate.find((d) => d.day === '2025-11-18')).toEqual({ day: '2025-11-18', h1: 1, observations: 2 });
    expect(rate.find((d) => d.day === '2025-11-04')).toEqual({ day: '2025-11-04', h1: 1, observations: 1 });
    store.close();
  });
});
