/**
 * Community ID equal to the reference for every protocol: the spec's own captures replayed
 * through llmtap's packet path; every flow's Community ID must be the one the reference
 * implementation (corelight/community-id-spec baseline) computed for that flow's packets —
 * ICMP and ICMPv6 request/reply pairs as one conversation, one-way types (errors, redirects,
 * MLDv2 reports, …) sender first even from the higher address, SCTP with its ports, other IP
 * protocols (RSVP) without ports.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalAddr } from '../../src/decode/addr.js';
import { communityId, communityIdOf, COMMUNITY_ID_DEFERRED } from '../../src/flow/community-id.js';
import { PacketPath, replayFile } from '../../src/pipeline.js';
import type { FlowRecord } from '../../src/records.js';
import { readCaptureFile } from '../../src/source/file.js';

const dir = join(import.meta.dirname, 'community-id-spec');
interface Baseline { proto: number; saddr: string; daddr: string; sport: number | null; dport: number | null; communityid: string }
const baseline = JSON.parse(readFileSync(join(dir, 'baseline_deflt.json'), 'utf8')) as Baseline[];

function bytes(addr: string): Uint8Array {
  if (!addr.includes(':')) return Uint8Array.from(addr.split('.').map(Number));
  const [head = '', tail = ''] = addr.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = addr.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => { const v = parseInt(g, 16); out[2 * i] = v >> 8; out[2 * i + 1] = v & 255; });
  return out;
}

describe('Community ID against the spec baseline', () => {
  it('every flow of the spec captures has the reference Community ID of its packets', async () => {
    const { flows } = await replayFile(join(dir, 'combined.pcap.gz'));
    // the reference's ID per packet 5-tuple (addresses canonical), both directions
    const ref = new Map<string, string>();
    for (const b of baseline) ref.set(`${b.proto}|${canonicalAddr(b.saddr)}|${b.sport ?? 0}|${canonicalAddr(b.daddr)}|${b.dport ?? 0}`, b.communityid);
    const got: string[] = [];
    for (const f of flows) {
      if (f.proto !== 1 && f.proto !== 58 && f.proto !== 6 && f.proto !== 17 && f.proto !== 132 && f.proto !== 46) continue; // ARP is not IP
      const fwd = ref.get(`${f.proto}|${canonicalAddr(f.origAddr)}|${f.origPort}|${canonicalAddr(f.respAddr)}|${f.respPort}`);
      const rev = ref.get(`${f.proto}|${canonicalAddr(f.respAddr)}|${f.respPort}|${canonicalAddr(f.origAddr)}|${f.origPort}`);
      const want = fwd ?? rev;
      expect({ flow: `${f.proto} ${f.origAddr}:${f.origPort} → ${f.respAddr}:${f.respPort}`, id: f.communityId }).toEqual({
        flow: `${f.proto} ${f.origAddr}:${f.origPort} → ${f.respAddr}:${f.respPort}`, id: want,
      });
      got.push(f.communityId);
    }
    // every distinct reference ID is some flow's
    expect([...new Set(got)].sort()).toEqual([...new Set(baseline.map((b) => b.communityid))].sort());
  });

  it('one-way ICMP from the higher address keeps the sender first; SCTP hashes its ports', () => {
    const a = (s: string): Uint8Array => bytes(s);
    // from the spec's README table: TCP/UDP/SCTP both ways, ICMP echo both ways, ICMP type 11 one-way
    expect(communityId(132, a('1.2.3.4'), 1122, a('5.6.7.8'), 3344)).toBe('1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=');
    expect(communityId(132, a('5.6.7.8'), 3344, a('1.2.3.4'), 1122)).toBe('1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=');
    expect(communityId(1, a('1.2.3.4'), 8, a('5.6.7.8'), 0)).toBe('1:crodRHL2FEsHjbv3UkRrfbs4bZ0=');
    expect(communityId(1, a('5.6.7.8'), 0, a('1.2.3.4'), 8)).toBe('1:crodRHL2FEsHjbv3UkRrfbs4bZ0=');
    expect(communityId(1, a('1.2.3.4'), 11, a('5.6.7.8'), 0, true)).toBe('1:f/YiSyWqczrTgfUCZlBUnvHRcPk=');
  });
});

/** A classic pcap (Ethernet) of the given IP packets, one µs apart. */
function pcap(ipPackets: { v6: boolean; bytes: Buffer }[]): Buffer {
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0);
  gh.writeUInt16LE(2, 4);
  gh.writeUInt16LE(4, 6);
  gh.writeUInt32LE(65535, 16);
  gh.writeUInt32LE(1, 20);
  const recs = ipPackets.map((p, i) => {
    const eth = Buffer.concat([Buffer.alloc(12, 2), Buffer.from(p.v6 ? [0x86, 0xdd] : [0x08, 0x00]), p.bytes]);
    const rh = Buffer.alloc(16);
    rh.writeUInt32LE(1_700_000_000, 0);
    rh.writeUInt32LE(i, 4);
    rh.writeUInt32LE(eth.length, 8);
    rh.writeUInt32LE(eth.length, 12);
    return Buffer.concat([rh, eth]);
  });
  return Buffer.concat([gh, ...recs]);
}

function icmp4(src: string, dst: string, type: number, code: number): { v6: boolean; bytes: Buffer } {
  const ip = Buffer.alloc(28);
  ip[0] = 0x45;
  ip.writeUInt16BE(28, 2);
  ip[8] = 64;
  ip[9] = 1;
  Buffer.from(bytes(src)).copy(ip, 12);
  Buffer.from(bytes(dst)).copy(ip, 16);
  ip[20] = type;
  ip[21] = code;
  return { v6: false, bytes: ip };
}

function icmp6(src: string, dst: string, type: number, code: number): { v6: boolean; bytes: Buffer } {
  const ip = Buffer.alloc(48);
  ip[0] = 0x60;
  ip.writeUInt16BE(8, 4);
  ip[6] = 58;
  ip[7] = 255;
  Buffer.from(bytes(src)).copy(ip, 8);
  Buffer.from(bytes(dst)).copy(ip, 24);
  ip[40] = type;
  ip[41] = code;
  return { v6: true, bytes: ip };
}

/** The spec's formula, written out: SHA-1 of seed 0 | saddr | daddr | proto | 0 | sport | dport, base64. */
function specId(proto: number, saddr: string, daddr: string, sport: number, dport: number): string {
  const p = Buffer.alloc(4);
  p.writeUInt16BE(sport, 0);
  p.writeUInt16BE(dport, 2);
  const input = Buffer.concat([Buffer.alloc(2), Buffer.from(bytes(saddr)), Buffer.from(bytes(daddr)), Buffer.from([proto, 0]), p]);
  return `1:${createHash('sha1').update(input).digest('base64')}`;
}

describe('Community ID of ICMP types without a reply type, sent from the higher address', () => {
  it('is hashed sender first with (type, code), and node-information (139/140) pairs as request/reply', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'llmtap-cid-'));
    const file = join(tmp, 'icmp-one-way.pcap');
    writeFileSync(file, pcap([
      icmp6('fe80::20', 'ff02::16', 143, 0), // MLDv2 report: no reply type
      icmp6('fe80::9', 'fe80::1', 137, 0), // redirect from the higher address
      icmp4('10.0.0.9', '10.0.0.1', 6, 0), // alternate host address (no reply type)
      icmp4('10.0.0.9', '10.0.0.1', 3, 3), // port unreachable from the higher address
      icmp6('fe80::9', 'fe80::1', 139, 0), // node information query from the higher address …
      icmp6('fe80::1', 'fe80::9', 140, 0), // … and its reply: one conversation
    ]));
    const { flows } = await replayFile(file);
    const ids = Object.fromEntries(flows.map((f) => [`${f.proto} ${f.origAddr} ${f.origPort}/${f.respPort}`, f.communityId]));
    expect(ids).toEqual({
      '58 fe80::20 143/0': specId(58, 'fe80::20', 'ff02::16', 143, 0),
      '58 fe80::9 137/0': specId(58, 'fe80::9', 'fe80::1', 137, 0),
      '1 10.0.0.9 6/0': specId(1, '10.0.0.9', '10.0.0.1', 6, 0),
      '1 10.0.0.9 3/3': specId(1, '10.0.0.9', '10.0.0.1', 3, 3),
      // paired: ordered by address, the lower address's "port" is 140 (the reply it sent)
      '58 fe80::9 139/140': specId(58, 'fe80::1', 'fe80::9', 140, 139),
    });
  });
});

describe('a flow table that defers the Community ID (the pipeline\'s)', () => {
  it('leaves it empty in IPv4 records only, and communityIdOf gives exactly the value computed at emit', async () => {
    const file = join(dir, 'combined.pcap.gz');
    const { flows: eager } = await replayFile(file);
    const lazy: FlowRecord[] = [];
    const pp = new PacketPath({}, { onFlow: (r) => lazy.push(r) });
    pp.flows.lazyCommunityId = true;
    await readCaptureFile(file, (b) => pp.onBatch(b));
    pp.finish();
    expect(lazy.length).toBe(eager.length);
    const isV4 = (a: string): boolean => !a.includes(':');
    const v4 = lazy.filter((f) => isV4(f.origAddr));
    // the spec's captures: IPv4 TCP, UDP, SCTP, ICMP (request/reply and one-way), RSVP; IPv6 beside
    expect(new Set(v4.map((f) => f.proto))).toEqual(new Set([1, 6, 17, 46, 132]));
    expect(lazy.length - v4.length).toBeGreaterThan(0);
    expect(v4.every((f) => f.communityId === COMMUNITY_ID_DEFERRED)).toBe(true);
    expect(lazy.filter((f) => !isV4(f.origAddr)).every((f) => f.communityId.startsWith('1:'))).toBe(true);
    expect(lazy.map((f) => communityIdOf(f))).toEqual(eager.map((f) => f.communityId));
    // filled in place: the record now serializes as the eager one, field for field
    expect(lazy.map((f) => JSON.stringify(f))).toEqual(eager.map((f) => JSON.stringify(f)));
  });

  it('keeps one-way ICMP sender first', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'llmtap-cid-'));
    const file = join(tmp, 'icmp4.pcap');
    writeFileSync(file, pcap([
      icmp4('10.0.0.9', '10.0.0.1', 3, 3), // port unreachable from the higher address: one-way
      icmp4('10.0.0.9', '10.0.0.1', 8, 0), // echo request from the higher address …
      icmp4('10.0.0.1', '10.0.0.9', 0, 0), // … and its reply: one conversation
    ]));
    const lazy: FlowRecord[] = [];
    const pp = new PacketPath({}, { onFlow: (r) => lazy.push(r) });
    pp.flows.lazyCommunityId = true;
    await readCaptureFile(file, (b) => pp.onBatch(b));
    pp.finish();
    expect(Object.fromEntries(lazy.map((f) => [`${f.origAddr} ${f.origPort}/${f.respPort}`, communityIdOf(f)]))).toEqual({
      '10.0.0.9 3/3': specId(1, '10.0.0.9', '10.0.0.1', 3, 3),
      '10.0.0.9 8/0': specId(1, '10.0.0.1', '10.0.0.9', 0, 8),
    });
  });
});
