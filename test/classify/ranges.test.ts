/**
 * Inventory by address range (issue 15): rules' provider-published destination prefixes decide
 * only when a connection has no host name. Unit level: the prefix table (longest prefix, both
 * families, boundaries), validation of range rules, explain and export. End to end: the real
 * capture test/captures/range-anthropic (scripts/captures/make-range.sh: openssl without SNI
 * to 160.79.104.10 and to [2607:6bc0::10], no DNS; curl with SNI api.anthropic.com to
 * 160.79.104.11) through the whole pipeline: the no-name flows are Anthropic by range with
 * host_source ip-range, the named flow is Anthropic by its name.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Classifier } from '../../src/classify/index.js';
import { addrBytes, parseCidr, parseV6, RangeTable } from '../../src/classify/ranges.js';
import { ruleProblems } from '../../src/classify/validate.js';
import type { RuleSpec } from '../../src/classify/types.js';
import { configFromObject } from '../../src/config.js';
import { Pipeline } from '../../src/pipeline.js';
import type { Observation } from '../../src/records.js';
import { readCaptureFile } from '../../src/source/file.js';
import { Store } from '../../src/store/store.js';
import { repoRoot } from '../helpers/corpus.js';

const rules = join(repoRoot, 'config', 'rules', 'default.yaml');
const c = Classifier.fromFiles({ rules });
const SRC = 'Anthropic docs "IP addresses"';

describe('prefix table', () => {
  const t = new RangeTable<string>();
  for (const [p, v] of [['160.79.104.0/23', 'v4-23'], ['160.79.104.0/24', 'v4-24'], ['10.0.0.0/8', 'ten'], ['2607:6bc0::/48', 'v6-48'], ['2607:6bc0:0:1::/64', 'v6-64'], ['::/0', 'all6']] as const) {
    const cidr = parseCidr(p);
    if (cidr === undefined) throw new Error(p);
    t.add(cidr, v);
  }
  it.each([
    ['160.79.104.0', ['v4-24', 'v4-23']],
    ['160.79.104.255', ['v4-24', 'v4-23']],
    ['160.79.105.255', ['v4-23']],
    ['160.79.106.0', []],
    ['160.79.103.255', []],
    ['10.200.1.1', ['ten']],
    ['10.0.0.256', []],
    ['255.255.255.255', []],
    ['2607:6bc0::1', ['v6-48', 'all6']],
    ['2607:6bc0:0:1::99', ['v6-64', 'v6-48', 'all6']],
    ['2607:6bc0:0:ffff:ffff:ffff:ffff:ffff', ['v6-48', 'all6']],
    ['2607:6bc1::', ['all6']],
    ['not an address', []],
  ])('%s → %j (longest prefix first; an IPv6 range never holds an IPv4 address)', (addr, want) => {
    expect(t.lookup(addr)).toEqual(want);
  });
});

describe('IPv6 parsing: the same bytes as the general parser', () => {
  it.each(['::', '::1', '1::', '2607:6bc0::10', '2607:6bc0:0:1::99', 'fe80::3816:b2ee:1b9b:324b', '2001:db8:0:0:1:0:0:1', '2607:6BC0::A', '1:2:3:4:5:6:7:8', '::ffff:10.0.0.1'])('%s', (a) => {
    const out = new Uint8Array(16);
    expect(parseV6(a, out)).toBe(true);
    expect([...out]).toEqual([...(addrBytes(a) ?? [])]);
  });
  it.each([':', ':::', '1:::2', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'g::1', '1:', ':1', '1::2:'])('%s is refused', (a) => {
    expect(parseV6(a, new Uint8Array(16))).toBe(false);
  });
});

describe('range rules', () => {
  const rule = (ranges: NonNullable<RuleSpec['match']['ranges']>, extra: Partial<RuleSpec> = {}): RuleSpec => ({ id: 'r', category: 'api', provider: 'P', source: 's', match: { ranges }, ...extra });
  it('a valid rule has no problem; bad prefixes, host bits, bad dates and names mixed in are refused', () => {
    expect(ruleProblems(rule([{ prefix: '160.79.104.0/23', source: SRC, date: '2026-12-04' }]), false)).toEqual([]);
    expect(ruleProblems(rule([{ prefix: '160.79.105.0/23', source: SRC, date: '2026-12-04' }]), false)).toEqual(['range "160.79.105.0/23" has address bits set past its prefix length']);
    expect(ruleProblems(rule([{ prefix: '160.79.104.0/33', source: SRC, date: '2026-12-04' }]), false)).toEqual(['range "160.79.104.0/33" is not an address prefix']);
    expect(ruleProblems(rule([{ prefix: '2607:6bc0::/48', source: SRC, date: '2026-13-45' }]), false)).toEqual(['range "2607:6bc0::/48": date "2026-13-45" is not a calendar date']);
    const mixed = rule([{ prefix: '160.79.104.0/23', source: SRC, date: '2026-12-04' }]);
    mixed.match.hosts = ['api.anthropic.com'];
    expect(ruleProblems(mixed, false)).toEqual(['ranges are used only when a connection has no name: put them in a rule without hosts, suffixes or patterns']);
    expect(ruleProblems(rule([{ prefix: '160.79.104.0/23', source: SRC, date: '2026-12-04' }], { examples: { match: ['160.79.106.1'], nomatch: ['160.79.105.1'] } }), false)).toEqual([
      'example "160.79.106.1" should be in a range but is not',
      'example "160.79.105.1" should not be in a range but is',
    ]);
  });

  it('classify: by range only without a name; a name (matching or not) decides alone', () => {
    expect(c.classify({ addr: '160.79.104.10', port: 443 })).toEqual({ category: 'api', provider: 'Anthropic', ruleId: 'anthropic-api-ranges', sanctioned: false, range: '160.79.104.0/23' });
    expect(c.classify({ addr: '2607:6bc0::10', port: 443 })?.range).toBe('2607:6bc0::/48');
    expect(c.classify({ host: '160.79.105.1', port: 443 })?.range).toBe('160.79.104.0/23');
    expect(c.classify({ host: 'api.anthropic.com', addr: '160.79.104.10', port: 443 })).toEqual({ category: 'api', provider: 'Anthropic', ruleId: 'anthropic-api', sanctioned: false });
    expect(c.classify({ host: 'www.example.org', addr: '160.79.104.10', port: 443 })).toBeUndefined();
    expect(c.classify({ addr: '160.79.106.1', port: 443 })).toBeUndefined();
  });

  it('explain names the address, the range, its source and date; export carries every range with source and date', () => {
    const e = c.explain({ host: '2607:6bc0::10', port: 443 });
    expect(e.query.address).toBe('2607:6bc0::10');
    expect(e.verdict?.range).toBe('2607:6bc0::/48');
    expect(e.decidingRule?.ruleId).toBe('anthropic-api-ranges');
    expect(e.decidingRule?.confidence).toBe('low');
    expect(e.decidingRule?.matchedBy).toEqual({
      hostKind: 'range', hostEntry: '2607:6bc0::/48', address: '2607:6bc0::10',
      rangeSource: 'Anthropic docs "IP addresses" (platform.claude.com/docs/en/api/ip-addresses): inbound API addresses', rangeDate: '2026-12-04',
    });
    const doc = c.exportDocument() as { rules: Array<{ id: string; match: { ranges?: Array<{ prefix: string; source: string; date: string }> } }> };
    const ranged = doc.rules.filter((r) => r.match.ranges !== undefined);
    expect(ranged.map((r) => r.id)).toEqual(['anthropic-api-ranges']);
    expect(ranged[0]?.match.ranges?.map((r) => r.prefix)).toEqual(['160.79.104.0/23', '2607:6bc0::/48']);
    for (const r of ranged.flatMap((x) => x.match.ranges ?? [])) {
      expect(r.source).toMatch(/^Anthropic docs "IP addresses"/);
      expect(r.date).toBe('2026-12-04');
    }
  });
});

describe('the real capture range-anthropic through the pipeline', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'llmtap-range-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('no-name flows to the ranges (IPv4 and IPv6) are Anthropic by range, host_source ip-range; the SNI flow by its name', async () => {
    const store = Store.open(join(tmp, 'r.db'), { flushIntervalMs: 0 });
    const seen: Observation[] = [];
    const p = new Pipeline(configFromObject({}), { store, onObservation: (o) => seen.push(structuredClone(o)) });
    await readCaptureFile(join(repoRoot, 'test', 'captures', 'range-anthropic', 'range-anthropic.pcap'), (b) => p.onBatch(b));
    p.finish();
    const first = seen.filter((o) => !o.update);
    // the capture's other traffic (IPv6 neighbour discovery, MLD) is no AI and never by range
    expect(first.filter((o) => o.verdict === undefined).map((o) => o.hostSource)).toEqual(['none', 'none', 'none']);
    const rows = first.filter((o) => o.verdict !== undefined).map((o) => [o.serverAddr, o.serverPort, o.host ?? null, o.hostSource, o.verdict?.ruleId ?? null, o.verdict?.range ?? null]);
    expect(rows.sort()).toEqual([
      ['160.79.104.10', 443, null, 'ip-range', 'anthropic-api-ranges', '160.79.104.0/23'],
      ['160.79.104.11', 443, 'api.anthropic.com', 'sni', 'anthropic-api', null],
      ['2607:6bc0::10', 443, null, 'ip-range', 'anthropic-api-ranges', '2607:6bc0::/48'],
    ]);
    // what the store keeps and the API serves
    store.flush();
    expect(store.listObservations('default', { afterSeq: 0, limit: 10 }).map((o) => o.hostSource).sort()).toEqual(['ip-range', 'ip-range', 'sni']);
    store.close();
  });
});
