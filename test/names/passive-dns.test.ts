import { describe, expect, it } from 'vitest';
import { PassiveDns } from '../../src/names/passive-dns.js';
import type { DnsAnswer, DnsRecord, FlowRecord, Handshake } from '../../src/records.js';

const S = 1e6;
const T0 = 1_750_000_000 * S;
const CDN = '104.18.32.47';

function answer(client: string, tsUs: number, qname: string, records: DnsRecord[], rcode = 0): DnsAnswer {
  return { tsUs, client, server: '10.0.0.53', proto: 'udp', id: 1, rcode, qname, qtype: 'A', answers: records, flowId: 0, vlan: [] };
}

function a(name: string, addr: string, ttl: number): DnsRecord {
  return { name, type: addr.includes(':') ? 'AAAA' : 'A', data: addr, ttl };
}

function flow(client: string, server: string, firstTsUs: number, handshake?: Handshake): FlowRecord {
  const rec: FlowRecord = {
    flowId: 1, communityId: '', proto: 6, vlan: [], origAddr: client, origPort: 50000, respAddr: server, respPort: 443,
    origBy: 'syn', origPkts: 1, respPkts: 1, origWireBytes: 0, respWireBytes: 0, origCapBytes: 0, respCapBytes: 0,
    origIpBytes: 0, respIpBytes: 0, origPayloadBytes: 0, respPayloadBytes: 0, firstTsUs, lastTsUs: firstTsUs,
    origTcpFlags: 0, respTcpFlags: 0, endReason: 'fin', ifIndex: 0, hostSource: 'none',
  };
  if (handshake !== undefined) rec.handshake = handshake;
  return rec;
}

const opts = { maxEntries: 10_000, ttlFloorS: 30, ttlCapS: 3600 };

describe('PassiveDns: clients sharing a CDN address', () => {
  const p = new PassiveDns(opts);
  p.addAnswer(answer('10.0.0.1', T0, 'api.openai.com', [a('api.openai.com', CDN, 300)]));
  p.addAnswer(answer('10.0.0.2', T0 + 1 * S, 'chatgpt.com', [a('chatgpt.com', CDN, 300)]));

  it("names each client's flow from its own answer and records the conflict", () => {
    const f1 = flow('10.0.0.1', CDN, T0 + 5 * S);
    p.nameFlow(f1);
    expect([f1.host, f1.hostSource, f1.dnsConflict]).toEqual(['api.openai.com', 'dns-client', true]);
    const f2 = flow('10.0.0.2', CDN, T0 + 5 * S);
    p.nameFlow(f2);
    expect([f2.host, f2.hostSource, f2.dnsConflict]).toEqual(['chatgpt.com', 'dns-client', true]);
  });

  it('falls back to any client (newest) for a client without answers', () => {
    const f = flow('10.0.0.9', CDN, T0 + 5 * S);
    p.nameFlow(f);
    expect([f.host, f.hostSource, f.dnsConflict]).toEqual(['chatgpt.com', 'dns-any', true]);
  });

  it('never uses an answer seen after the flow started', () => {
    const f = flow('10.0.0.2', CDN, T0 + 0.5 * S);
    p.nameFlow(f);
    expect([f.host, f.hostSource, f.dnsConflict]).toEqual(['api.openai.com', 'dns-any', false]);
    const g = flow('10.0.0.1', CDN, T0 - 1);
    p.nameFlow(g);
    expect([g.host, g.hostSource]).toEqual([undefined, 'none']);
  });

  it('counts what it did', () => {
    const s = p.stats();
    expect(s['names.host_dns_client']).toBe(2);
    expect(s['names.host_dns_any']).toBe(2);
    expect(s['names.host_none']).toBe(1);
    expect(s['names.dns_conflicts']).toBe(3);
  });
});

describe('PassiveDns: SNI first, DNS as a cross-check', () => {
  const p = new PassiveDns(opts);
  p.addAnswer(
    answer('10.0.0.1', T0, 'api.openai.com', [
      { name: 'api.openai.com', type: 'CNAME', data: 'api.openai.com.cdn.cloudflare.net', ttl: 300 },
      a('api.openai.com.cdn.cloudflare.net', CDN, 300),
    ]),
  );
  const hs = (sni: string, transport: 'tls' | 'quic' = 'tls', ech?: 'real' | 'grease'): Handshake => {
    const h: Handshake = { transport, sni, hellos: 1 };
    if (ech !== undefined) h.ech = ech;
    return h;
  };

  it('SNI wins; agreement through the CNAME chain', () => {
    const f = flow('10.0.0.1', CDN, T0 + S, hs('api.openai.com.cdn.cloudflare.net'));
    p.nameFlow(f);
    expect([f.host, f.hostSource, f.hostAgrees]).toEqual(['api.openai.com.cdn.cloudflare.net', 'sni', true]);
  });

  it('QUIC SNI that DNS contradicts is kept, labelled, and flagged', () => {
    const f = flow('10.0.0.1', CDN, T0 + S, hs('claude.ai', 'quic'));
    p.nameFlow(f);
    expect([f.host, f.hostSource, f.hostAgrees]).toEqual(['claude.ai', 'quic-sni', false]);
  });

  it('SNI without any DNS leaves hostAgrees absent', () => {
    const f = flow('10.0.0.1', '203.0.113.9', T0 + S, hs('example.org'));
    p.nameFlow(f);
    expect([f.host, f.hostSource, f.hostAgrees, f.dnsConflict]).toEqual(['example.org', 'sni', undefined, undefined]);
  });

  it('a real-ECH outer name is a front: DNS names the flow instead', () => {
    const f = flow('10.0.0.1', CDN, T0 + S, hs('cloudflare-ech.com', 'tls', 'real'));
    p.nameFlow(f);
    expect([f.host, f.hostSource]).toEqual(['api.openai.com', 'dns-client']);
    const g = flow('10.0.0.1', '203.0.113.9', T0 + S, hs('cloudflare-ech.com', 'tls', 'real'));
    p.nameFlow(g);
    expect([g.host, g.hostSource]).toEqual([undefined, 'none']);
  });
});

describe('PassiveDns: TTL floor and cap, refresh, negatives, HTTPS hints', () => {
  it('a TTL of 0 still names a flow within the floor, not after it', () => {
    const p = new PassiveDns({ maxEntries: 100, ttlFloorS: 60, ttlCapS: 3600 });
    p.addAnswer(answer('10.0.0.1', T0, 'api.anthropic.com', [a('api.anthropic.com', '160.79.104.10', 0)]));
    expect(p.namesFor('160.79.104.10', T0 + 59 * S, '10.0.0.1')).toEqual(['api.anthropic.com']);
    expect(p.namesFor('160.79.104.10', T0 + 61 * S, '10.0.0.1')).toEqual([]);
    const zero = new PassiveDns({ maxEntries: 100, ttlFloorS: 0, ttlCapS: 3600 });
    zero.addAnswer(answer('10.0.0.1', T0, 'api.anthropic.com', [a('api.anthropic.com', '160.79.104.10', 0)]));
    expect(zero.namesFor('160.79.104.10', T0 + S, '10.0.0.1')).toEqual([]);
  });

  it('a day-long TTL is cut to the cap', () => {
    const p = new PassiveDns({ maxEntries: 100, ttlFloorS: 30, ttlCapS: 300 });
    p.addAnswer(answer('10.0.0.1', T0, 'api.mistral.ai', [a('api.mistral.ai', '2606:4700::6812:1', 86400)]));
    expect(p.namesFor('2606:4700::6812:1', T0 + 299 * S)).toEqual(['api.mistral.ai']);
    expect(p.namesFor('2606:4700::6812:1', T0 + 301 * S)).toEqual([]);
  });

  it('a refresh extends the window without losing the flow that started under the first answer', () => {
    const p = new PassiveDns({ maxEntries: 100, ttlFloorS: 0, ttlCapS: 3600 });
    p.addAnswer(answer('10.0.0.1', T0, 'api.openai.com', [a('api.openai.com', CDN, 60)]));
    p.addAnswer(answer('10.0.0.1', T0 + 50 * S, 'api.openai.com', [a('api.openai.com', CDN, 60)]));
    expect(p.namesFor(CDN, T0 + 10 * S, '10.0.0.1')).toEqual(['api.openai.com']);
    expect(p.namesFor(CDN, T0 + 100 * S, '10.0.0.1')).toEqual(['api.openai.com']);
    expect(p.namesFor(CDN, T0 + 111 * S, '10.0.0.1')).toEqual([]);
  });

  it('ignores NXDOMAIN and learns HTTPS address hints', () => {
    const p = new PassiveDns(opts);
    p.addAnswer(answer('10.0.0.1', T0, 'gone.example', [], 3));
    p.addAnswer(
      answer('10.0.0.1', T0, 'chatgpt.com', [
        { name: 'chatgpt.com', type: 'HTTPS', data: '.', ttl: 300, ipv4hint: ['172.64.155.209'], ipv6hint: ['2606:4700:4400::ac40:9bd1'], ech: true },
      ]),
    );
    expect(p.namesFor('172.64.155.209', T0 + S, '10.0.0.1')).toEqual(['chatgpt.com']);
    expect(p.namesFor('2606:4700:4400::ac40:9bd1', T0 + S)).toEqual(['chatgpt.com']);
    expect(p.stats()['names.answers_negative']).toBe(1);
  });
});

describe('PassiveDns: bounded memory', () => {
  it('evicts least recently used entries and counts them', () => {
    const p = new PassiveDns({ maxEntries: 100, ttlFloorS: 30, ttlCapS: 3600 });
    for (let i = 0; i < 1000; i++) {
      p.addAnswer(answer(`10.0.${i >> 8}.${i & 255}`, T0 + i, `h${i}.example`, [a(`h${i}.example`, `198.51.${i >> 8}.${i & 255}`, 300)]));
    }
    const s = p.stats();
    expect(s['names.entries_client']).toBe(100);
    expect(s['names.entries_addr']).toBe(100);
    expect(s['names.evictions']).toBe(1800);
    // The newest survive, the oldest are gone.
    expect(p.namesFor('198.51.3.231', T0 + 2000)).toEqual(['h999.example']);
    expect(p.namesFor('198.51.0.0', T0 + 2000)).toEqual([]);
  });

  it('one address asked by more clients than the bound: the oldest clients go first, the first one included', () => {
    const p = new PassiveDns({ maxEntries: 3, ttlFloorS: 30, ttlCapS: 3600 });
    for (let i = 1; i <= 5; i++) p.addAnswer(answer(`10.0.0.${i}`, T0 + i, 'one.example', [a('one.example', CDN, 300)]));
    expect([1, 2, 3, 4, 5].map((i) => p.namesFor(CDN, T0 + 10, `10.0.0.${i}`))).toEqual([[], [], ['one.example'], ['one.example'], ['one.example']]);
    const s = p.stats();
    expect(s['names.entries_client']).toBe(3);
    expect(s['names.entries_addr']).toBe(1);
    expect(s['names.evictions']).toBe(2);
    // a flow of the first remaining client is named from its own list, of a dropped one from any client's
    const own = flow('10.0.0.3', CDN, T0 + 10);
    const dropped = flow('10.0.0.1', CDN, T0 + 10);
    p.nameFlow(own);
    p.nameFlow(dropped);
    expect([own.hostSource, own.host, dropped.hostSource, dropped.host]).toEqual(['dns-client', 'one.example', 'dns-any', 'one.example']);
  });

  it('keeps at most 8 names per address (a CDN address shared by thousands)', () => {
    const p = new PassiveDns(opts);
    for (let i = 0; i < 50; i++) p.addAnswer(answer('10.0.0.1', T0 + i, `site${i}.example`, [a(`site${i}.example`, CDN, 300)]));
    const names = p.namesFor(CDN, T0 + 100);
    expect(names).toHaveLength(8);
    expect(names[0]).toBe('site49.example');
  });
});
