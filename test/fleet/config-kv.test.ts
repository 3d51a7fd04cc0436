/**
 * The `settings` document of the config bucket without a server: what the hub writes from its
 * tenant and stored allowlist, how a sensor validates it (the local config's schema), keeps the
 * last good version (also on disk) and lays it over its local config.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configFromObject } from '../../src/config.js';
import { HubSettings, settingsDocument } from '../../src/fleet/config-kv.js';
import { parseTenants } from '../../src/tenants/schema.js';
import type { AllowlistEntry } from '../../src/store/types.js';

const dir = mkdtempSync(join(tmpdir(), 'llmtap-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NOW = Date.parse('2026-12-05T00:00:00Z');
const tenant = parseTenants([{ id: 'acme', cidrs: ['10.1.0.0/16'], payload_entropy: true, threat_intel: { files: ['/hub/only/intel.txt'] } }])[0]!;
const entry = (id: number, over: Partial<AllowlistEntry>): AllowlistEntry => ({ id, tenant: 'acme', createdAtMs: NOW, origin: 'manual', processName: 'tool', justification: 'ok', ...over });

describe('fleet settings document', () => {
  it('the hub writes the tenant (no threat-intel paths) and its allowlist as config entries, expired ones left out, versioned by content', () => {
    const doc = settingsDocument(tenant, [
      entry(1, { processName: 'quickprompt', binaryHash: 'a'.repeat(64), provider: 'openai', origin: 'config' }),
      entry(2, { processName: 'mde-tool', binaryHash: 'b'.repeat(40), category: 'api', expiresAtMs: NOW + 86_400_000 }),
      entry(3, { processName: 'old', expiresAtMs: NOW - 1 }),
    ], NOW);
    expect(doc.tenant['threat_intel']).toBeUndefined();
    expect(doc.tenant['cidrs']).toEqual(['10.1.0.0/16']);
    expect(doc.allowlist).toEqual([
      { tenant: 'acme', process: 'quickprompt', sha256: 'a'.repeat(64), provider: 'openai', justification: 'ok' },
      { tenant: 'acme', process: 'mde-tool', sha1: 'b'.repeat(40), category: 'api', expires: '2026-12-06T00:00:00.000Z', justification: 'ok' },
    ]);
    expect(doc.version).toMatch(/^[0-9a-f]{16}$/);
    expect(settingsDocument(tenant, [entry(1, { processName: 'quickprompt', binaryHash: 'a'.repeat(64), provider: 'openai' })], NOW).version).not.toBe(doc.version);
    expect(settingsDocument(tenant, [], NOW).version).toBe(settingsDocument(tenant, [], NOW).version);
  });

  it('a sensor takes a valid version, refuses a bad one (counted, last good kept), caches the good one, and overlays its local config', () => {
    const cache = join(dir, 'settings.json');
    const s = new HubSettings('acme', cache);
    const good = settingsDocument(tenant, [entry(1, { processName: 'quickprompt' })], NOW);
    expect(s.take(JSON.stringify(good))).toBe(true);
    expect(s.version).toBe(good.version);
    expect(JSON.parse(readFileSync(cache, 'utf8'))).toEqual(good);
    const bad = [
      'not json',
      JSON.stringify({ ...good, tenant: { ...good.tenant, cidrs: ['10.1.0.0/33'] } }),
      JSON.stringify({ ...good, tenant: { ...good.tenant, id: 'globex' } }),
      JSON.stringify({ ...good, allowlist: [{ tenant: 'globex', process: 'x', justification: 'y' }] }),
      JSON.stringify({ ...good, allowlist: [{ tenant: 'acme', process: 'x' }] }),
      JSON.stringify({ version: 'x' }),
    ];
    for (const b of bad) expect(s.take(b), b).toBe(false);
    expect(s.rejected).toBe(bad.length);
    expect(s.applied).toBe(1);
    expect(s.version).toBe(good.version);

    const local = configFromObject({
      tenants: [{ id: 'acme', cidrs: ['192.168.0.0/16'], threat_intel: { files: [] } }, { id: 'other', cidrs: ['172.16.0.0/12'] }],
      allowlist: [{ tenant: 'acme', process: 'local-acme', justification: 'l' }, { tenant: 'other', process: 'local-other', justification: 'l' }],
    });
    const eff = s.overlay(local);
    expect(eff.tenants.map((t) => [t.id, t.cidrs, t.payload_entropy])).toEqual([['other', ['172.16.0.0/12'], false], ['acme', ['10.1.0.0/16'], true]]);
    // the local threat-intel files stay (paths of this machine)
    expect(eff.tenants.find((t) => t.id === 'acme')!.threat_intel).toEqual({ files: [] });
    expect(eff.allowlist.map((e) => [e.tenant, e.process])).toEqual([['other', 'local-other'], ['acme', 'quickprompt']]);

    // a restart reads the cache
    const again = new HubSettings('acme', cache);
    expect(again.version).toBe(good.version);
    expect(again.overlay(local).allowlist.map((e) => e.process)).toEqual(['local-other', 'quickprompt']);
  });

  it('an entry that expired since the hub wrote it is left out at the sensor, the rest of the version taken', () => {
    const doc = settingsDocument(tenant, [entry(1, { processName: 'keep' }), entry(2, { processName: 'gone', expiresAtMs: Date.now() + 3_600_000 })]);
    expect(doc.allowlist.map((e) => e.process)).toEqual(['keep', 'gone']);
    // read an hour later (a cached copy at a restart): the entry's expiry is past
    doc.allowlist[1]!.expires = new Date(Date.now() - 1000).toISOString();
    const s = new HubSettings('acme', undefined);
    expect(s.take(JSON.stringify(doc))).toBe(true);
    expect(s.value!.allowlist.map((e) => e.process)).toEqual(['keep']);
  });
});
