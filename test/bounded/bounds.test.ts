/**
 * Every bounded structure holds its configured bound and counts what it evicts, and the
 * counts reach Prometheus as `llmtap_bound_*{structure}`. Each structure is filled through its
 * own API past a small bound.
 */
import { describe, expect, it } from 'vitest';
import { LruMap, type BoundStat } from '../../src/bounded/lru.js';
import { Beacon } from '../../src/detect/beacon.js';
import { RefWindow } from '../../src/detect/rule.js';
import { DeviceMap } from '../../src/attribute/device-map.js';
import { SkewTracker } from '../../src/attribute/skew.js';
import { DnsHints, ProcessTable } from '../../src/attribute/feeds/process-table.js';
import { Classifier, DEFAULT_RULES_PATH } from '../../src/classify/classifier.js';
import { Pipeline } from '../../src/pipeline.js';
import { configFromObject } from '../../src/config.js';
import { Store } from '../../src/store/store.js';
import { createMetrics } from '../../src/metrics.js';
import type { EdrConnection, Observation } from '../../src/records.js';
import type { RuleContext } from '../../src/detect/rule.js';
import type { TenantConfig } from '../../src/tenants/schema.js';
import { defaultTenantConfig } from '../../src/tenants/schema.js';

const T0 = 1_767_225_600_000_000;

describe('LruMap', () => {
  it('evicts the least recently used entry when full, counted; peek does not touch', () => {
    const m = new LruMap<string, number>('test.map', 3);
    m.set('a', 1); m.set('b', 2); m.set('c', 3);
    expect(m.get('a')).toBe(1); // a is now the most recent
    expect(m.peek('b')).toBe(2); // b stays the least recent
    m.set('d', 4);
    expect([...m.entries()].map(([k]) => k)).toEqual(['d', 'a', 'c']);
    m.set('a', 10); // replacing is not an eviction
    m.delete('c'); // neither is a delete
    expect(m.stat()).toEqual({ structure: 'test.map', entries: 2, max: 3, evictions: 1 });
    expect(m.oldest()).toEqual(['d', 4]);
    for (let i = 0; i < 1000; i++) m.set(`k${i}`, i);
    expect(m.stat()).toEqual({ structure: 'test.map', entries: 3, max: 3, evictions: 1 + 999 });
    expect([...m.entries()].map(([k]) => k)).toEqual(['k999', 'k998', 'k997']);
  });
});

function edr(i: number, p: Partial<EdrConnection> = {}): EdrConnection {
  return {
    v: 1, tenant: 't1', source: 'sysmon', tsKind: 'connect', receivedAtMs: 0, tsMs: T0 / 1000 + i, deviceId: `ws${i}`,
    localAddr: `10.0.${i >> 8}.${i & 255}`, localPort: 50000, remoteAddr: '104.18.7.192', remotePort: 443, transport: 'tcp',
    direction: 'outbound', pid: 1, processKey: '{p}', processName: 'python.exe', hashUnknown: true, ...p,
  };
}

const exact = (b: BoundStat, structure: string, max: number, inserted: number): void => {
  expect(b).toEqual({ structure, entries: Math.min(max, inserted), max, evictions: Math.max(0, inserted - max) });
};

describe('each structure holds its bound and counts its evictions', () => {
  it('attribute: device map, skews, process table, DNS hints', () => {
    const dm = new DeviceMap(50);
    for (let i = 0; i < 130; i++) dm.note(edr(i), `t1\u0000ws${i}\u0000sysmon`);
    exact(dm.stat(), 'attribute.device_map', 50, 130);
    // the oldest addresses went first: the newest still label flows
    expect(dm.lookup('t1', '10.0.0.129', T0 / 1000 + 129, () => 0, 0)?.deviceId).toBe('ws129');
    expect(dm.lookup('t1', '10.0.0.0', T0 / 1000, () => 0, 0)).toBeUndefined();
    const sk = new SkewTracker(20);
    for (let i = 0; i < 45; i++) sk.add(`d${i}`, 'tcp', i);
    exact(sk.stat(), 'attribute.skew_devices', 20, 45);
    expect(sk.get('d44')).toBe(44);
    expect(sk.get('d0')).toBeUndefined();
    const pt = new ProcessTable(30);
    for (let i = 0; i < 100; i++) pt.set('ws1', `{${i}}`, { pid: i });
    exact(pt.stat(), 'attribute.process_table', 30, 100);
    expect(pt.evicted).toBe(70);
    expect(pt.get('ws1', '{99}')?.pid).toBe(99);
    const dh = new DnsHints(10);
    for (let i = 0; i < 25; i++) dh.set('ws1', `1.1.1.${i}`, `h${i}`);
    exact(dh.stat(), 'attribute.dns_hints', 10, 25);
  });

  it('classify: the host memo keeps the most recently used names', () => {
    const c = Classifier.fromFiles({ rules: DEFAULT_RULES_PATH }, { memoMax: 100 });
    for (let i = 0; i < 250; i++) c.classify({ host: `h${i}.example.net`, port: 443, loopback: false, tenant: 'default' });
    const [host] = c.bounds();
    exact(host!, 'classify.host_memo', 100, 250);
    expect(c.stats()['memo_evictions']).toBe(150);
  });

  it('detect: beacon series, window keys; idle series and stale keys leave without a walk over all', () => {
    const b = new Beacon(40);
    const tenant = { ...defaultTenantConfig(), id: 't1' } as TenantConfig;
    const ctx = (i: number, tsUs: number): RuleContext => ({
      tenant, warm: true, marks: { h1: false }, emit: () => undefined, count: () => {},
      obs: { obsId: `o${i}`, tenant: 't1', kind: 'flow', update: false, tsUs, lastTsUs: tsUs, clientAddr: `10.0.0.${i}`, serverAddr: '1.2.3.4', serverPort: 443, proto: 6,
        hostSource: 'sni', host: 'api.openai.com', bytesOut: 100, bytesIn: 100, verdict: { provider: 'OpenAI', category: 'api' } } as unknown as Observation,
    } as unknown as RuleContext);
    for (let i = 0; i < 100; i++) b.observe(ctx(i, T0 + i * 1e6));
    exact(b.bounds()[0]!, 'detect.beacon_series', 40, 100);
    // three hours later the 40 kept series are idle: all dropped (expiry, not eviction)
    b.tick(T0 + 3 * 3600e6);
    expect(b.bounds()[0]).toEqual({ structure: 'detect.beacon_series', entries: 0, max: 40, evictions: 60 });

    const w = new RefWindow(8, 25, 'detect.h7_hashes');
    for (let i = 0; i < 60; i++) w.add(`k${i}`, { obsId: `o${i}`, tsUs: T0 + i, bytesOut: 1, bytesIn: 1 }, 0);
    exact(w.stat(), 'detect.h7_hashes', 25, 60);
    // keys whose newest ref fell out of the window go, oldest first, up to the first live one
    w.prune(T0 + 50);
    expect(w.stat().entries).toBe(10);
  });

  it('the pipeline reports every structure, and Prometheus exports them', async () => {
    const cfg = configFromObject({ flow: { max_flows: 64, max_fragments: 32 }, names: { max_entries: 32 }, attribute: { max_flows: 16, max_records: 16, max_devices: 16, max_edr_only_dedup: 16 } });
    const store = Store.open(':memory:', {});
    const p = new Pipeline(cfg, { store });
    for (let i = 0; i < 40; i++) p.addEdr(edr(i));
    const bounds = p.bounds();
    const names = bounds.map((b) => b.structure).sort();
    expect(names).toEqual([
      'attribute.device_map', 'attribute.dns_hints', 'attribute.edr_only_dedup', 'attribute.edr_records', 'attribute.ingest_tenants',
      'attribute.pending_flows', 'attribute.process_table', 'attribute.skew_devices', 'classify.host_memo', 'classify.process_memo',
      'detect.beacon_series', 'detect.first_pairs', 'detect.inventory', 'detect.lineage_names', 'detect.upload_seen', 'flow.fragments', 'flow.table', 'names.passive_dns',
    ]);
    const by = Object.fromEntries(bounds.map((b) => [b.structure, b]));
    exact(by['attribute.edr_records']!, 'attribute.edr_records', 16, 40);
    exact(by['attribute.device_map']!, 'attribute.device_map', 16, 40);
    expect(by['flow.table']).toEqual({ structure: 'flow.table', entries: 0, max: 64, evictions: 0 });
    const m = createMetrics({ bounds: () => p.bounds() }, { defaultMetrics: false });
    const text = await m.publicRegistry.metrics();
    expect(text).toContain('llmtap_bound_evictions_total{structure="attribute.edr_records"} 24');
    expect(text).toContain('llmtap_bound_entries{structure="attribute.device_map"} 16');
    expect(text).toContain('llmtap_bound_max_entries{structure="names.passive_dns"} 32');
    store.close();
  });
});
