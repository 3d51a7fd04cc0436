/**
 * One crafted packet per decode reason: each packet increments exactly its reason's counter by
 * one and no other. The table is typed by `DecodeReason`, so a reason added to the list without
 * a packet here is a type error, and the last test checks the table covers the list.
 */
import { describe, expect, it } from 'vitest';
import { Decoder } from '../../src/decode/decoder.js';
import { DECODE_REASONS, type DecodeReason } from '../../src/decode/reasons.js';
import { PacketView } from '../../src/decode/view.js';

const ETHERNET = 1;

function eth(etherType: number, body: Buffer): Buffer {
  const h = Buffer.alloc(14);
  h.writeUInt16BE(etherType, 12);
  return Buffer.concat([h, body]);
}

/** IPv4 header (20 bytes, no options) in front of `body`; `totalLen` overrides the length field. */
function ipv4(proto: number, body: Buffer, o: { totalLen?: number; ihl?: number; fragOff?: number } = {}): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x40 | (o.ihl ?? 5);
  h.writeUInt16BE(o.totalLen ?? 20 + body.length, 2);
  h.writeUInt16BE(o.fragOff ?? 0, 6);
  h[8] = 64;
  h[9] = proto;
  h.writeUInt32BE(0x0a000001, 12);
  h.writeUInt32BE(0x0a000002, 16);
  return Buffer.concat([h, body]);
}

function ipv6(next: number, body: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(body.length, 4);
  h[6] = next;
  h[7] = 64;
  h[23] = 1;
  h[39] = 2;
  return Buffer.concat([h, body]);
}

function tcp(dataOffsetWords = 5): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(50000, 0);
  h.writeUInt16BE(443, 2);
  h[12] = dataOffsetWords << 4;
  h[13] = 0x02;
  return h;
}

function udp(sport: number, dport: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

/** GTP-U G-PDU header (version 1, PT 1, no optional fields) around an inner IP packet. */
function gtpu(inner: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = 0x30;
  h[1] = 0xff;
  h.writeUInt16BE(inner.length, 2);
  h.writeUInt32BE(7, 4);
  return Buffer.concat([h, inner]);
}

interface Crafted {
  bytes: Buffer;
  link?: number;
  /** Wire length when it differs from the captured length. */
  wireLen?: number;
}

const PACKETS: Record<DecodeReason, Crafted> = {
  'decode.ok': { bytes: eth(0x0800, ipv4(6, tcp())) },
  'decode.link_truncated': { bytes: Buffer.alloc(10) },
  'decode.vlan_truncated': { bytes: eth(0x8100, Buffer.from([0x00, 0x05])) },
  'decode.ipv4_truncated': { bytes: eth(0x0800, ipv4(6, tcp()).subarray(0, 12)) },
  'decode.ipv4_bad_header': { bytes: eth(0x0800, ipv4(6, tcp(), { ihl: 4 })) },
  // The header says 200 bytes, the frame (captured whole: capLen = wireLen) holds 40.
  'decode.ipv4_length_exceeds_frame': { bytes: eth(0x0800, ipv4(6, tcp(), { totalLen: 200 })) },
  'decode.ipv6_truncated': { bytes: eth(0x86dd, ipv6(6, tcp()).subarray(0, 30)) },
  // A hop-by-hop options header announced, 4 of its at least 8 bytes present.
  'decode.ipv6_ext_truncated': { bytes: eth(0x86dd, ipv6(0, Buffer.from([6, 0, 0, 0]))) },
  'decode.tcp_truncated': { bytes: eth(0x0800, ipv4(6, tcp().subarray(0, 2))) },
  'decode.tcp_bad_offset': { bytes: eth(0x0800, ipv4(6, tcp(4))) },
  'decode.udp_truncated': { bytes: eth(0x0800, ipv4(17, Buffer.alloc(4))) },
  'decode.icmp_truncated': { bytes: eth(0x0800, ipv4(1, Buffer.from([8, 0]))) },
  'decode.sctp_truncated': { bytes: eth(0x0800, ipv4(132, Buffer.alloc(8))) },
  // IP-in-IP whose inner IPv4 header is cut after 10 bytes.
  'decode.tunnel_truncated': { bytes: eth(0x0800, ipv4(4, ipv4(6, tcp()).subarray(0, 10))) },
  'decode.unknown_link_type': { bytes: eth(0x0800, ipv4(6, tcp())), link: 147 },
  'decode.not_ip': { bytes: eth(0x0806, Buffer.alloc(28)) },
  // A later fragment (offset 185 × 8 bytes): no transport header to key on.
  'decode.fragment': { bytes: eth(0x0800, ipv4(6, Buffer.alloc(24), { fragOff: 185 })) },
  'decode.tunnel_6in4': { bytes: eth(0x0800, ipv4(41, ipv6(6, tcp()))) },
  'decode.tunnel_ipip': { bytes: eth(0x0800, ipv4(4, ipv4(6, tcp()))) },
  'decode.tunnel_gtpu': { bytes: eth(0x0800, ipv4(17, udp(2152, 2152, gtpu(ipv4(6, tcp()))))) },
  // GRE: an IP protocol decode does not take apart.
  'decode.other_proto': { bytes: eth(0x0800, ipv4(47, Buffer.alloc(8))) },
};

/** Decode one packet with a fresh decoder; returns the counters that moved, by name. */
function moved(p: Crafted): Record<string, number> {
  const d = new Decoder();
  const v = new PacketView();
  d.decode(v, p.bytes, 0, p.bytes.length, p.wireLen ?? p.bytes.length, p.link ?? ETHERNET, 1_000_000, 0);
  const out: Record<string, number> = {};
  DECODE_REASONS.forEach((r, i) => {
    if (d.counts[i] !== 0) out[r] = d.counts[i] ?? 0;
  });
  return out;
}

describe('decode: one crafted packet per reason', () => {
  for (const reason of DECODE_REASONS) {
    it(`${reason}: exactly this counter, once`, () => {
      expect(moved(PACKETS[reason])).toEqual({ [reason]: 1 });
    });
  }

  it('the same packets through one decoder: one count per reason, the reasons in order', () => {
    const d = new Decoder();
    const v = new PacketView();
    for (const r of DECODE_REASONS) {
      const p = PACKETS[r];
      d.decode(v, p.bytes, 0, p.bytes.length, p.wireLen ?? p.bytes.length, p.link ?? ETHERNET, 1_000_000, 0);
    }
    expect([...d.counts]).toEqual(DECODE_REASONS.map(() => 1));
  });

  it('the table names every reason and nothing else', () => {
    expect(Object.keys(PACKETS).sort()).toEqual([...DECODE_REASONS].sort());
  });
});
