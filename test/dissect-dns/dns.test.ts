import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import dnsPacket from 'dns-packet';
import { DnsDissector } from '../../src/dissect/dns/index.js';
import { parseDnsMessage } from '../../src/dissect/dns/parse.js';
import type { DnsReason } from '../../src/dissect/dns/reasons.js';
import { PacketView } from '../../src/decode/view.js';
import type { DnsAnswer, FlowMeta } from '../../src/records.js';

/** HTTPS rdata: priority 1, target ".", ipv4hint 104.18.10.118, ech (3 bytes), ipv6hint 2606:4700::1. */
const HTTPS_RDATA = Buffer.from(
  '0001' + '00' + '0004' + '0004' + '68120a76' + '0005' + '0003' + 'aabbcc' + '0006' + '0010' + '26064700000000000000000000000001',
  'hex',
);

function response(id: number, rcode: 'NOERROR' | 'NXDOMAIN' = 'NOERROR'): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id,
    flags: dnsPacket.RECURSION_DESIRED | (rcode === 'NXDOMAIN' ? 3 : 0),
    questions: [{ type: 'A', name: 'api.openai.com' }],
    answers:
      rcode === 'NXDOMAIN'
        ? []
        : [
            { type: 'CNAME', name: 'api.openai.com', data: 'api.openai.com.cdn.cloudflare.net', ttl: 300 },
            { type: 'A', name: 'api.openai.com.cdn.cloudflare.net', data: '162.159.140.245', ttl: 60 },
            { type: 'AAAA', name: 'api.openai.com.cdn.cloudflare.net', data: '2606:4700:0:0:0:0:a29f:8cf5', ttl: 60 },
            // HTTPS (type 65) has no encoder in dns-packet: raw rdata.
            { type: 'UNKNOWN_65' as 'A', name: 'api.openai.com', data: HTTPS_RDATA as unknown as string, ttl: 30 },
          ],
  });
}

function setup(): { d: DnsDissector; got: DnsAnswer[]; counts: Map<string, number>; meta: FlowMeta } {
  const got: DnsAnswer[] = [];
  const counts = new Map<string, number>();
  const d = new DnsDissector({ onDns: (a) => got.push(a), count: (r) => counts.set(r, (counts.get(r) ?? 0) + 1) });
  return { d, got, counts, meta: { flowId: 9, proto: 17, respPort: 53, origPort: 40000, inspect: true } };
}

/** A response from 192.0.2.53:53 to 10.0.0.7, payload at an offset inside a larger buffer. */
function view(payload: Buffer, opts: { tcpSeq?: number; fromOrig?: boolean; flags?: number } = {}): PacketView {
  const v = new PacketView();
  v.buf = Buffer.concat([Buffer.alloc(20, 0xaa), payload, Buffer.alloc(30, 0xc0)]);
  v.payloadOff = 20;
  v.payloadLen = payload.length;
  v.ipVersion = 4;
  v.src4 = 0xc0000235;
  v.dst4 = 0x0a000007;
  v.tsUs = 1_700_000_000_000_000;
  v.tcpSeq = opts.tcpSeq ?? 0;
  v.fromOrig = opts.fromOrig ?? false;
  v.tcpFlags = opts.flags ?? 0x18;
  return v;
}

function framed(msgs: Buffer[]): Buffer {
  return Buffer.concat(msgs.flatMap((m) => [Buffer.of(m.length >> 8, m.length & 0xff), m]));
}

describe('DnsDissector over UDP', () => {
  it('reads a CNAME chain, A, AAAA and HTTPS hints with ECH', () => {
    const { d, got, meta } = setup();
    d.onPacket(view(response(0x1234)), meta);
    expect(got).toHaveLength(1);
    const a = got[0];
    expect(a?.client).toBe('10.0.0.7');
    expect(a?.server).toBe('192.0.2.53');
    expect(a?.proto).toBe('udp');
    expect(a?.id).toBe(0x1234);
    expect(a?.qname).toBe('api.openai.com');
    expect(a?.qtype).toBe('A');
    expect(a?.flowId).toBe(9);
    expect(a?.answers.map((r) => [r.type, r.data])).toEqual([
      ['CNAME', 'api.openai.com.cdn.cloudflare.net'],
      ['A', '162.159.140.245'],
      ['AAAA', '2606:4700::a29f:8cf5'],
      ['HTTPS', '.'],
    ]);
    const https = a?.answers[3];
    expect(https?.ipv4hint).toEqual(['104.18.10.118']);
    expect(https?.ipv6hint).toEqual(['2606:4700::1']);
    expect(https?.ech).toBe(true);
    expect(meta.inspect).toBe(true);
  });

  it('reports NXDOMAIN with no answers and skips queries', () => {
    const { d, got, meta } = setup();
    d.onPacket(view(dnsPacket.encode({ type: 'query', id: 5, questions: [{ type: 'A', name: 'x.example' }] }), { fromOrig: true }), meta);
    d.onPacket(view(response(5, 'NXDOMAIN')), meta);
    expect(got).toHaveLength(1);
    expect(got[0]?.rcode).toBe(3);
    expect(got[0]?.answers).toEqual([]);
  });
});

describe('DnsDissector over TCP', () => {
  const m1 = response(1);
  const m2 = response(2, 'NXDOMAIN');
  const m3 = response(3);
  const stream = framed([m1, m2, m3]);

  it('several messages in one segment', () => {
    const { d, got, meta } = setup();
    meta.proto = 6;
    d.onPacket(view(stream, { tcpSeq: 1000 }), meta);
    expect(got.map((a) => [a.id, a.proto])).toEqual([[1, 'tcp'], [2, 'tcp'], [3, 'tcp']]);
  });

  it('any split, reordering and retransmission gives the same messages', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 6 }),
        fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
        fc.boolean(),
        (cuts, seeds, dup) => {
          const bounds = [0, ...cuts.sort((a, b) => a - b), stream.length];
          const segs: [number, number][] = [];
          for (let i = 0; i + 1 < bounds.length; i++) segs.push([bounds[i] ?? 0, bounds[i + 1] ?? 0]);
          // Swap a few neighbours (reordering within the hold window), maybe resend one segment.
          for (let i = 0; i + 1 < segs.length; i++) {
            if ((seeds[i % seeds.length] ?? 0) % 3 === 0) {
              const t = segs[i] as [number, number];
              segs[i] = segs[i + 1] as [number, number];
              segs[i + 1] = t;
            }
          }
          if (dup && segs[0] !== undefined) segs.push(segs[0]);
          const { d, got, meta } = setup();
          meta.proto = 6;
          const base = 0xfffffff0; // sequence numbers wrap inside the stream
          // The server's SYN+ACK fixes the stream start, so even a first segment that arrives
          // late is placed correctly.
          d.onPacket(view(Buffer.alloc(0), { tcpSeq: (base - 1) >>> 0, flags: 0x12 }), meta);
          for (const [s, e] of segs) d.onPacket(view(stream.subarray(s, e), { tcpSeq: (base + s) >>> 0 }), meta);
          d.onFlowEnd(meta);
          expect(got.map((a) => a.id)).toEqual([1, 2, 3]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a missing segment is counted at flow end', () => {
    const { d, got, counts, meta } = setup();
    meta.proto = 6;
    d.onPacket(view(stream.subarray(0, 10), { tcpSeq: 0 }), meta);
    d.onPacket(view(stream.subarray(40), { tcpSeq: 40 }), meta);
    d.onFlowEnd(meta);
    expect(got).toHaveLength(0);
    expect(counts.get('dns.tcp_gap')).toBe(1);
  });
});

describe('malformed DNS', () => {
  it('exact reasons for known-bad names', () => {
    const hdr = '000181800001000000000000';
    const cases: [string, string][] = [
      [hdr + 'c00c00010001', 'dns.bad_pointer'], // pointer to itself
      [hdr + '4161', 'dns.bad_label'], // label type 01
      [hdr + '03617069', 'dns.truncated'], // name cut
      [hdr.slice(0, 16), 'dns.truncated'], // header cut
    ];
    for (const [hex, reason] of cases) {
      const r = parseDnsMessage(Buffer.from(hex, 'hex'), 64, []);
      expect(r.ok ? 'ok' : r.reason).toBe(reason);
    }
    // A name over 255 octets in the question: the name is skipped by its wire length.
    const long = Array.from({ length: 5 }, () => '3f' + '61'.repeat(63)).join('') + '00';
    const issues: DnsReason[] = [];
    const r = parseDnsMessage(Buffer.from(hdr + long + '00010001', 'hex'), 64, issues);
    expect(r.ok).toBe(true);
    expect(issues).toEqual(['dns.name_too_long']);
  });

  it('mutated responses never throw and only count dns.* reasons', () => {
    const base = response(77);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 8 }), fc.nat(), fc.boolean(), (flips, cut, tcp) => {
        const m = Buffer.from(base);
        for (const [i, b] of flips) m[i % m.length] = b;
        m[2] = (m[2] ?? 0) | 0x80; // keep it a response so it is parsed
        const msg = m.subarray(0, 1 + (cut % m.length));
        const { d, counts, meta } = setup();
        if (tcp) meta.proto = 6;
        expect(() => {
          d.onPacket(view(tcp ? framed([msg]) : msg), meta);
          d.onFlowEnd(meta);
        }).not.toThrow();
        for (const k of counts.keys()) expect(k).toMatch(/^dns\.[a-z_]+$/);
      }),
      { numRuns: 500 },
    );
  });
});
