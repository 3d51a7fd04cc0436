import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultTenantConfig } from '../../src/tenants/schema.js';
import { alerts, obs, rig } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dbBytes(path: string): string {
  return ['', '-wal', '-journal']
    .map((s) => path + s)
    .filter((p) => existsSync(p))
    .map((p) => readFileSync(p).toString('latin1'))
    .join('\n');
}

describe('ai_threat_telemetry_enabled', () => {
  it('off for one tenant: none of its AI fields reach the database file or WAL; the other tenant is unaffected', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmtap-switch-'));
    dirs.push(dir);
    const path = join(dir, 'llmtap.db');
    const on = { ...defaultTenantConfig('acme'), warmup_days: 0, cidrs: ['10.1.0.0/16'], payload_entropy: true };
    const off = { ...defaultTenantConfig('globex'), warmup_days: 0, cidrs: ['10.2.0.0/16', 'fd00:2::/32'], ai_threat_telemetry_enabled: false };
    const { store, det } = rig([on, off], [], path);
    const evilOff = 'd'.repeat(60) + 'beef';
    const evilOn = 'a'.repeat(60) + 'cafe';
    for (let i = 0; i < 6; i++) {
      // Each observation carries the tenant resolved where it was formed (src/pipeline.ts).
      det.onObservation(obs({ id: `off${i}`, tenant: 'globex', atS: 10 + i * 40, device: `globexdev${i % 3}`, clientAddr: '10.2.3.4', proc: 'globexworker.exe', sha256: evilOff, lineage: 'globexlineage', host: 'globex-llm.example.net' }));
      det.onObservation(obs({ id: `off6-${i}`, tenant: 'globex', atS: 11 + i * 40, noEdr: true, clientAddr: 'fd00:2::99', host: 'globex-v6.example.net' }));
      det.onObservation(obs({ id: `on${i}`, tenant: 'acme', atS: 12 + i * 40, device: `acmedev${i % 3}`, clientAddr: '10.1.3.4', proc: 'acmeworker.exe', sha256: evilOn, lineage: 'acmelineage', host: 'acme-llm.example.net', entropy: 7.9 }));
    }
    store.flush();
    const raw = dbBytes(path);
    for (const needle of ['globexworker', 'globexdev', evilOff, 'globexlineage', 'globex-llm', 'globex-v6', 'fd00:2::99', '10.2.3.4', 'off0', 'GLOBEX']) {
      expect(raw.includes(needle), needle).toBe(false);
    }
    for (const needle of ['acmeworker', 'acmedev', evilOn, 'acme-llm', '10.1.3.4']) {
      expect(raw.includes(needle), needle).toBe(true);
    }
    expect(alerts(store, 'globex')).toEqual([]);
    const acme = alerts(store, 'acme').map((a) => a.heuristic).sort();
    expect(acme).toEqual(['h1', 'h1', 'h1', 'h7']);
    const rows = store.listObservations('acme', { afterSeq: 0, limit: 100 });
    expect(rows.length).toBe(6);
    expect(rows[0]?.payloadEntropy).toBe(7.9);
    expect(store.listObservations('globex', { afterSeq: 0, limit: 100 })).toEqual([]);
    expect(det.stats()['detect.telemetry_disabled']).toBe(12);
    store.close();
  });
});
