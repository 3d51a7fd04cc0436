/**
 * Threat intelligence, optional and off by default: indicator files (a plain list, a STIX 2.1
 * bundle) loaded per tenant and reloaded on SIGHUP; a match raises a critical `threat_intel`
 * alert and raises the other alerts of the same connection, naming indicator and source.
 * Malformed files give clear errors and never crash.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readEdrFile } from '../../src/attribute/ingest.js';
import { currentAlerts } from '../../src/sensor/index.js';
import { loadConfig, type SensorConfig } from '../../src/config.js';
import { loadIndicatorFile, parseStixPattern, ThreatIntelIndex } from '../../src/detect/threat-intel.js';
import { Pipeline } from '../../src/pipeline.js';
import type { Alert, EdrConnection } from '../../src/records.js';
import { readCaptureFile } from '../../src/source/file.js';
import { Store } from '../../src/store/store.js';
import { defaultTenantConfig } from '../../src/tenants/schema.js';
import { repoRoot } from '../helpers/corpus.js';
import { alerts, DAY_S, obs, rig } from './helpers.js';

const dir = join(repoRoot, 'test', 'detect', 'intel');
const BUNDLE = join(dir, 'lab-bundle.stix.json');
const LIST = join(dir, 'lab-blocklist.txt');
const QUICKPROMPT = '007e36a3c44329305dc018653576f9843a6bb03c688eb75cce2a0aafa0e0ec3c';
const HTTPD = '6295488653f0d93b0a157841746fef7e72cc4328cfb60c4bbe0ca2668a836ffd';
const DROPPER_SHA1 = '3395856ce81f2b7382dee72602f798b642f14140';
const tmp = mkdtempSync(join(tmpdir(), 'llmtap-intel-'));

describe('STIX patterns', () => {
  it('parses the supported comparison forms, alone and joined by OR', () => {
    expect(parseStixPattern(`[file:hashes.'SHA-256' = '${QUICKPROMPT.toUpperCase()}']`)).toEqual({ ok: true, terms: [{ kind: 'sha256', value: QUICKPROMPT }] });
    expect(parseStixPattern(`[file:hashes.'SHA-1' = '${DROPPER_SHA1}']`)).toEqual({ ok: true, terms: [{ kind: 'sha1', value: DROPPER_SHA1 }] });
    expect(parseStixPattern(`[file:hashes.SHA256 = '${QUICKPROMPT}']`)).toEqual({ ok: true, terms: [{ kind: 'sha256', value: QUICKPROMPT }] });
    expect(parseStixPattern("[domain-name:value = 'C2.Example.org.']")).toEqual({ ok: true, terms: [{ kind: 'domain', value: 'c2.example.org' }] });
    expect(parseStixPattern(`[domain-name:value = 'a.example' OR file:hashes.'SHA-1' = '${DROPPER_SHA1}'] OR [domain-name:value = 'b.example']`)).toEqual({
      ok: true,
      terms: [{ kind: 'domain', value: 'a.example' }, { kind: 'sha1', value: DROPPER_SHA1 }, { kind: 'domain', value: 'b.example' }],
    });
  });

  it('everything else is unsupported (never matched in part) or malformed, with a reason', () => {
    const un = (p: string): string => {
      const r = parseStixPattern(p);
      expect(r.ok).toBe(false);
      if (r.ok) return '';
      expect(r.unsupported, p).toBe(true);
      return r.reason;
    };
    expect(un(`[file:hashes.'SHA-256' = '${QUICKPROMPT}' AND file:name = 'x']`)).toBe('AND inside an observation');
    expect(un(`[file:hashes.'SHA-256' = '${QUICKPROMPT}'] AND [domain-name:value = 'a.example']`)).toBe('AND between observations');
    expect(un("[ipv4-addr:value = '198.51.100.7']")).toBe('object path ipv4-addr:value');
    expect(un("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']")).toBe('object path file:hashes.MD5');
    expect(un("[domain-name:value != 'a.example']")).toBe('operator !=');
    expect(un("[domain-name:value LIKE '%.example']")).toBe('operator LIKE');
    expect(un("[domain-name:value IN ('a.example', 'b.example')]")).toBe('operator IN');
    expect(un("[domain-name:value = 'a.example'] WITHIN 60 SECONDS")).toBe('WITHIN between observations');
    expect(un("[domain-name:value = 'a.example'] FOLLOWEDBY [domain-name:value = 'b.example']")).toBe('FOLLOWEDBY between observations');
    expect(un("([domain-name:value = 'a.example'])")).toBe('parenthesised expressions');
    const bad = (p: string): void => {
      const r = parseStixPattern(p);
      expect(r.ok === false && !r.unsupported, p).toBe(true);
    };
    bad("[file:hashes.'SHA-256' = 'abc']");
    bad("[domain-name:value = 'open");
    bad("domain-name:value = 'a.example'");
    bad("[domain-name:value = 'a.example'");
    bad("[domain-name:value = 'a.example'] junk");
    bad('');
  });
});

describe('indicator files', () => {
  it('a real STIX 2.1 bundle: supported indicators loaded, the rest counted by kind', () => {
    const { indicators, report } = loadIndicatorFile(BUNDLE);
    expect(report).toMatchObject({ file: 'lab-bundle.stix.json', format: 'stix', indicators: 3, unsupported: 6, invalid: 0, revoked: 1 });
    expect(report.error).toBeUndefined();
    expect(report.problems).toEqual([
      'indicator--f74947c5-23a4-4fc2-bf6c-45cbd1fade76: unsupported pattern (AND inside an observation)',
      'indicator--0137218b-7fb0-4edf-bb80-a8c29f55290b: unsupported pattern (object path ipv4-addr:value)',
      'indicator--6729d1ab-f61a-4fd7-b5ea-747b758ccdeb: unsupported pattern (object path file:hashes.MD5)',
      'indicator--9914a1b1-a4ef-44c7-ae8b-d2488dbe6090: unsupported pattern (REPEATS between observations)',
      'indicator--d6b84624-ac9a-4e00-9733-b60e9975e41e: unsupported pattern (operator LIKE)',
      'indicator--3de61111-04aa-4784-afd2-ec46e86c6f40: pattern_type "sigma" is not supported',
    ]);
    expect(indicators.map((i) => `${i.kind}:${i.value}|${i.ref}|${i.name ?? ''}`)).toEqual([
      `sha256:${QUICKPROMPT}|indicator--a5d21063-216a-499e-9f36-c92811c28b9d|quickprompt loader`,
      'domain:c2.prompt-relay.example|indicator--4dc38fb0-cc42-42e3-b155-cada41b8373e|backdoor C2 name or its dropper',
      `sha1:${DROPPER_SHA1}|indicator--4dc38fb0-cc42-42e3-b155-cada41b8373e|backdoor C2 name or its dropper`,
      `sha256:${HTTPD}|indicator--c0073bb9-9256-4f7a-96fa-523f743775b4|old web shell (expired)`,
    ]);
    expect(indicators[3]?.validUntilUs).toBe(Date.parse('2026-06-01T00:00:00Z') * 1000);
  });

  it('a plain list: hashes and host names, invalid lines counted with their numbers', () => {
    const { indicators, report } = loadIndicatorFile(LIST);
    expect(report).toMatchObject({ format: 'list', indicators: 3, invalid: 3, unsupported: 0 });
    expect(report.problems).toEqual([
      'line 7: not a SHA-256, SHA-1 or host name',
      'line 8: not a SHA-256, SHA-1 or host name',
      'line 9: not a SHA-256, SHA-1 or host name',
    ]);
    expect(indicators.map((i) => `${i.kind}:${i.value}@${i.ref}`)).toEqual([
      'domain:generativelanguage.googleapis.com@line 3',
      `sha1:${DROPPER_SHA1}@line 4`,
      `sha256:${'0'.repeat(63)}1@line 5`,
    ]);
  });

  it('malformed files: a clear error or counted entries, never an exception', () => {
    const trunc = loadIndicatorFile(join(dir, 'truncated.stix.json'));
    expect(trunc.indicators).toEqual([]);
    expect(trunc.report.error).toMatch(/^not valid JSON: /);
    const pat = loadIndicatorFile(join(dir, 'malformed-patterns.stix.json'));
    expect(pat.report).toMatchObject({ indicators: 1, invalid: 5, unsupported: 0 });
    expect(pat.report.problems).toEqual([
      "indicator--ebccc112-5c1d-4f47-88ab-b88456065a45: malformed pattern (not a SHA-256: 'abc123')",
      'indicator--5d0092c5-5f74-4287-9642-33f4c354e56d: malformed pattern (unterminated string)',
      'objects[2]: an indicator needs an id (indicator--<uuid>) and a pattern',
      "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f: malformed pattern (expected '[' at 0)",
      'objects[5]: not an object',
    ]);
    expect(pat.indicators.map((i) => i.value)).toEqual(['good.prompt-relay.example']);
    const write = (name: string, data: string | Buffer): string => {
      const p = join(tmp, name);
      writeFileSync(p, data);
      return p;
    };
    expect(loadIndicatorFile(write('obj.json', '{"type": "indicator", "pattern": "[domain-name:value = \'a.example\']"}')).report.error).toBe(
      'not a STIX bundle (a JSON object with "type": "bundle")',
    );
    expect(loadIndicatorFile(write('arr.json', '[1, 2]')).report.error).toBe('not a STIX bundle (a JSON object with "type": "bundle")');
    expect(loadIndicatorFile(write('objs.json', '{"type": "bundle", "objects": {"a": 1}}')).report.error).toBe('STIX bundle "objects" is not a list');
    expect(loadIndicatorFile(write('empty.txt', '')).report).toMatchObject({ format: 'list', indicators: 0, invalid: 0 });
    expect(loadIndicatorFile(join(tmp, 'missing.txt')).report.error).toMatch(/^cannot read .*missing\.txt: ENOENT$/);
    expect(loadIndicatorFile(tmp).report.error).toMatch(/: EISDIR$/);
    const junk = loadIndicatorFile(write('junk.bin', Buffer.concat([Buffer.from('\n'), randomBytes(64 * 1024)])));
    expect(junk.report.error).toBeUndefined();
    expect(junk.indicators).toEqual([]);
    expect(junk.report.invalid).toBeGreaterThan(0);
    expect(junk.report.problems.length).toBe(10); // bounded
  });
});

describe('matching', () => {
  const index = (): ThreatIntelIndex => new ThreatIntelIndex([...loadIndicatorFile(BUNDLE).indicators, ...loadIndicatorFile(LIST).indicators]);

  it('off by default: a tenant without files matches nothing and raises nothing', () => {
    expect(defaultTenantConfig().threat_intel).toEqual({ files: [] });
    const { store, det } = rig();
    det.onObservation(obs({ id: 'q', atS: 10, proc: 'quickprompt', sha256: QUICKPROMPT }));
    expect(alerts(store).map((a) => `${a.heuristic}/${a.severity}`)).toEqual(['h1/high']);
    store.close();
  });

  it('a hash match: critical threat_intel alert; the H1 alert of the same connection raised one step, naming the indicator', () => {
    const { store, det } = rig([{ ...defaultTenantConfig(), warmup_days: 0 }, { ...defaultTenantConfig('other'), warmup_days: 0, cidrs: ['10.2.0.0/16'] }]);
    det.setThreatIntel(new Map([['default', index()]]));
    // the bundle's indicators are valid from 2026-01-05; helpers' T0 is 2025-11-03
    det.onObservation(obs({ id: 'q1', atS: 100 * DAY_S, device: 'dev-1', proc: 'quickprompt', sha256: QUICKPROMPT }));
    // the same binary in another tenant: that tenant loaded nothing
    det.onObservation(obs({ id: 'q2', atS: 100 * DAY_S, tenant: 'other', clientAddr: '10.2.0.5', device: 'dev-x', proc: 'quickprompt', sha256: QUICKPROMPT }));
    const list = alerts(store);
    expect(list.map((a) => `${a.heuristic}/${a.severity}`).sort()).toEqual(['h1/critical', 'threat_intel/critical']);
    const ti = list.find((a) => a.heuristic === 'threat_intel')!;
    expect(ti.title).toBe(
      "Threat intel: quickprompt on DEV-1 (SHA-256 007e36a3c443…) matches indicator indicator--a5d21063-216a-499e-9f36-c92811c28b9d 'quickprompt loader' (lab-bundle.stix.json) calling openai",
    );
    expect(ti.evidence.detail).toEqual({
      indicator: `sha256:${QUICKPROMPT}`,
      indicatorRef: 'indicator--a5d21063-216a-499e-9f36-c92811c28b9d',
      indicatorSource: 'lab-bundle.stix.json',
      indicatorName: 'quickprompt loader',
      matched: 'SHA-256 007e36a3c443…',
    });
    expect(ti.confidence?.reasons.map((r) => r.signal)).toContain('threat_intel');
    const h1 = list.find((a) => a.heuristic === 'h1')!;
    expect(h1.evidence.detail['threatIntel']).toBe(
      "SHA-256 007e36a3c443… matches indicator--a5d21063-216a-499e-9f36-c92811c28b9d 'quickprompt loader' (lab-bundle.stix.json)",
    );
    expect(alerts(store, 'other').map((a) => `${a.heuristic}/${a.severity}`)).toEqual(['h1/high']);
    expect(det.stats()['detect.threat_intel.matches']).toBe(1);
    store.close();
  });

  it('SHA-1 matches only a SHA-1, host names match case-insensitively, validity bounds apply', () => {
    const { store, det } = rig();
    det.setThreatIntel(new Map([['default', index()]]));
    // a SHA-256 that happens to start like the SHA-1 indicator is not it
    det.onObservation(obs({ id: 's256', atS: 10, device: 'd1', proc: 'a.exe', sha256: DROPPER_SHA1 + 'f'.repeat(24) }));
    det.onObservation(obs({ id: 's1', atS: 20, device: 'd2', proc: 'b.exe', sha1: DROPPER_SHA1.toUpperCase() }));
    det.onObservation(obs({ id: 'h', atS: 30, device: 'd3', proc: 'c.exe', host: 'GenerativeLanguage.googleapis.com', provider: 'Google' }));
    // the web-shell indicator expired 2026-06-01; helpers' T0 is 2025-11-03, before its valid_from
    det.onObservation(obs({ id: 'old', atS: 40, device: 'd4', proc: 'httpd-worker', sha256: HTTPD }));
    const ti = alerts(store).filter((a) => a.heuristic === 'threat_intel');
    expect(ti.map((a) => `${a.deviceId}:${a.evidence.detail['matched']}`).sort()).toEqual([
      'd2:SHA-1 3395856ce81f…',
      'd3:host generativelanguage.googleapis.com',
    ]);
    const idx = index();
    const at = (iso: string): number => Date.parse(iso) * 1000;
    const web = (ts: number) => ({ ...obs({ id: 'w', atS: 0, sha256: HTTPD }), tsUs: ts });
    expect(idx.match(web(at('2026-03-01T00:00:00Z')))?.indicator.ref).toBe('indicator--c0073bb9-9256-4f7a-96fa-523f743775b4');
    expect(idx.match(web(at('2026-06-01T00:00:00Z')))).toBeUndefined();
    expect(idx.match(web(at('2026-01-01T00:00:00Z')))).toBeUndefined();
    store.close();
  });
});

/** The demo replayed with the lab indicators loaded for its tenant. */
async function replayDemo(cfg: SensorConfig): Promise<{ alerts: Alert[]; pipeline: Pipeline; store: Store }> {
  const demo = join(repoRoot, 'pcaps', 'demo');
  const store = Store.open(join(tmp, `demo-${Math.random().toString(36).slice(2)}.db`));
  const { applyConfigAllowlist } = await import('../../src/sensor/allowlist.js');
  applyConfigAllowlist(cfg, store);
  const pipeline = new Pipeline(cfg, { store });
  const recs: EdrConnection[] = [];
  await readEdrFile(join(demo, 'edr', 'llmtap.ndjson'), { tenant: 'demo', lineageKey: cfg.attribute.lineage_key }, (r) => recs.push(r));
  for (const r of recs) pipeline.addEdr(r);
  await readCaptureFile(join(demo, 'demo.pcap.gz'), (b) => pipeline.onBatch(b));
  pipeline.finish();
  return { alerts: currentAlerts(store, ['demo', 'default']), pipeline, store };
}

describe('threat intel on the demo capture, and reload', () => {
  it('the demo with the lab bundle and list: quickprompt and the Google caller are named, their alerts raised', async () => {
    const cfg = loadConfig(join(repoRoot, 'pcaps', 'demo', 'llmtap.yaml'));
    cfg.tenants[0]!.threat_intel = { files: [BUNDLE, LIST] };
    const r = await replayDemo(cfg);
    expect(r.pipeline.threatIntel.map((t) => `${t.tenant} ${t.file} ${t.format} ${t.indicators}/${t.unsupported}/${t.invalid}/${t.revoked}`)).toEqual([
      'demo lab-bundle.stix.json stix 3/6/0/1',
      'demo lab-blocklist.txt list 3/0/3/0',
    ]);
    const key = (a: Alert): string => `${a.heuristic}|${a.deviceId ?? a.clientAddr ?? '-'}|${a.processName ?? '-'}|${a.severity}`;
    expect(r.alerts.map(key).sort()).toEqual([
      'beacon|device-b|httpd-worker|high', // the web-shell indicator expired before the capture
      'h1|device-a|quickprompt|critical', // raised from high: the connection matched the bundle
      'h1|device-b|httpd-worker|critical',
      'h1|device-b|quickprompt|critical',
      'h1|device-c|openssl|high',
      'h1|device-c|quickprompt|critical',
      'h7|-|quickprompt|critical',
      'shadow_volume|10.77.0.104|-|high', // raised from medium: the host is on the list
      'threat_intel|10.77.0.104|-|critical',
      'threat_intel|device-a|quickprompt|critical',
      'threat_intel|device-b|quickprompt|critical',
      'threat_intel|device-c|quickprompt|critical',
      'upload|device-c|python3.11|high', // the AND indicator is unsupported, never half-matched
    ]);
    const shadow = r.alerts.find((a) => a.heuristic === 'shadow_volume')!;
    expect(shadow.evidence.detail['threatIntel']).toBe('host generativelanguage.googleapis.com matches line 3 (lab-blocklist.txt)');
    expect(r.alerts.find((a) => a.heuristic === 'threat_intel' && a.clientAddr === '10.77.0.104')?.count).toBe(6);
    r.store.close();
  });

  it('reload (SIGHUP) re-reads the files; a file that became unusable keeps its previous indicators', () => {
    const file = join(tmp, 'reload.txt');
    writeFileSync(file, `${QUICKPROMPT}\n`);
    const cfgPath = join(tmp, 'reload.yaml');
    writeFileSync(cfgPath, `tenants:\n  - id: acme\n    cidrs: [10.1.0.0/16]\n    warmup_days: 0\n    threat_intel:\n      files: [reload.txt]\n`);
    const store = Store.open(':memory:', { flushIntervalMs: 0 });
    const p = new Pipeline(loadConfig(cfgPath), { store });
    const hit = (id: string, sha256: string): void =>
      p.detector.onObservation(obs({ id, atS: Number(id.replace(/\D/g, '')) * 10, tenant: 'acme', device: `dev-${id}`, proc: 'x.exe', sha256 }));
    hit('a1', QUICKPROMPT);
    writeFileSync(file, `${HTTPD}\n`);
    p.reload(loadConfig(cfgPath));
    hit('a2', QUICKPROMPT); // no longer an indicator
    hit('a3', HTTPD);
    writeFileSync(file, '{"type": "bundle", "objects": [');
    const cfgBroken = loadConfig(cfgPath);
    expect(() => p.reload(cfgBroken)).not.toThrow();
    expect(p.threatIntel).toEqual([expect.objectContaining({ tenant: 'acme', file: 'reload.txt', kept: 1, error: expect.stringMatching(/^not valid JSON/) })]);
    hit('a4', HTTPD); // the previous load still holds
    const ti = alerts(store, 'acme').filter((a) => a.heuristic === 'threat_intel').map((a) => a.deviceId).sort();
    expect(ti).toEqual(['dev-a1', 'dev-a3', 'dev-a4']);
    // the file is dropped from the config: its indicators go too
    writeFileSync(cfgPath, `tenants:\n  - id: acme\n    cidrs: [10.1.0.0/16]\n    warmup_days: 0\n`);
    p.reload(loadConfig(cfgPath));
    hit('a5', HTTPD);
    expect(alerts(store, 'acme').filter((a) => a.heuristic === 'threat_intel').length).toBe(3);
    expect(readFileSync(file, 'utf8')).toContain('bundle');
    store.close();
  });
});
