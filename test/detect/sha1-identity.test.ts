/**
 * A feed with SHA-1 only (Microsoft Defender streaming events: SHA256 empty, SHA1 set) keeps
 * the binary identity in every alert, in H7 and in its related links — typed as SHA-1.
 */
import { describe, expect, it } from 'vitest';
import { toOcsfFinding } from '../../src/api/ocsf.js';
import { presentAlert } from '../../src/api/present.js';
import { defaultTenantConfig } from '../../src/tenants/schema.js';
import { alerts, obs, rig, summary } from './helpers.js';

const SHA1 = '3f'.repeat(20);
const SHA256 = '3f'.repeat(32);

describe('SHA-1-only feeds keep the binary identity', () => {
  it('H1 and learning alerts carry the SHA-1, H7 links them, the API and OCSF type it as SHA-1', () => {
    const { store, det } = rig();
    [0, 40, 80].forEach((dt, i) => det.onObservation(obs({ id: `m${i}`, atS: 1000 + dt, device: `dev-${i + 1}`, proc: 'curl.exe', sha1: SHA1 })));
    const list = alerts(store);
    expect(summary(list)).toEqual(['h1/high/dev-1/curl.exe', 'h1/high/dev-2/curl.exe', 'h1/high/dev-3/curl.exe', 'h7/critical/-/curl.exe']);
    for (const a of list) {
      expect(a.sha1, a.heuristic).toBe(SHA1);
      expect(a.sha256, a.heuristic).toBeUndefined();
    }
    const h7 = list.find((a) => a.heuristic === 'h7')!;
    expect([...(h7.related ?? [])].sort()).toEqual(list.filter((a) => a.heuristic === 'h1').map((a) => a.id).sort());
    const h1 = list.find((a) => a.heuristic === 'h1')!;
    const shown = presentAlert(h1);
    expect(shown['sha1']).toBe(SHA1);
    expect(shown['sha256']).toBeUndefined();
    const finding = toOcsfFinding(h1, { version: 'test' }) as { evidences?: { process?: { file?: { hashes: unknown[] } } }[] };
    expect(JSON.stringify(finding)).toContain(JSON.stringify({ algorithm_id: 2, algorithm: 'SHA-1', value: SHA1 }));
    expect(JSON.stringify(finding)).not.toContain('SHA-256');
    store.close();
  });

  it('learning alerts during warm-up carry it too, and a SHA-256 stays the identity where both are known', () => {
    const { store, det } = rig([{ ...defaultTenantConfig(), warmup_days: 14 }]);
    det.onObservation(obs({ id: 'w0', atS: 10, device: 'dev-1', proc: 'tool.exe', sha1: SHA1 }));
    det.onObservation(obs({ id: 'w1', atS: 20, device: 'dev-2', proc: 'other.exe', sha1: '77'.repeat(20), sha256: SHA256 }));
    const byProc = Object.fromEntries(alerts(store).map((a) => [a.processName, a]));
    expect(byProc['tool.exe']?.heuristic).toBe('learning');
    expect(byProc['tool.exe']?.sha1).toBe(SHA1);
    expect(byProc['other.exe']?.sha256).toBe(SHA256);
    expect(byProc['other.exe']?.sha1).toBeUndefined();
    store.close();
  });
});
