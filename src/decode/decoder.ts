/**
 * Packet decode: link → IP (v4 with options and fragments, v6 with extension headers, 6in4,
 * IP-in-IP, GTP-U) → TCP/UDP/ICMP. Refills one PacketView; never allocates or throws per packet.
 * Every packet increments exactly one reason counter (`decode.ok` or why not).
 */
import { icmpCounterpart } from './icmp.js';
import { u16, u32, u8 } from './bytes.js';
import { decodeLink, ET_IPV4, ET_IPV6 } from './link.js';
import { DECODE_REASONS, R } from './reasons.js';
import type { PacketView } from './view.js';

const GTPU_PORT = 2152;
/** Tunnel nesting bound (an adversarial packet could nest IP-in-IP forever). */
const MAX_TUNNELS = 3;

export class Decoder {
  /** Packets per reason, indexed like DECODE_REASONS. */
  readonly counts = new Float64Array(DECODE_REASONS.length);

  /**
   * Decode one packet into `v`. Returns true when the packet can be keyed to a flow (IP with a
   * transport header, or an IP fragment the flow stage may associate).
   */
  decode(v: PacketView, b: Buffer, off: number, capLen: number, wireLen: number, linkType: number, tsUs: number, ifIndex: number): boolean {
    const end = off + capLen;
    v.buf = b;
    v.start = off;
    v.end = end;
    v.capLen = capLen;
    v.wireLen = wireLen;
    v.linkType = linkType;
    v.tsUs = tsUs;
    v.ifIndex = ifIndex;
    v.vlan0 = 0;
    v.vlan1 = 0;
    v.vlanDepth = 0;
    v.ipVersion = 0;
    v.tunnels = 0;
    v.fragment = false;
    v.fragFirst = false;
    v.l4Off = 0;
    v.srcPort = 0;
    v.dstPort = 0;
    v.tcpFlags = 0;
    v.payloadOff = 0;
    v.payloadLen = 0;
    v.payloadWireLen = 0;
    v.flowSlot = -1;
    const et = decodeLink(v, b, off, end, linkType);
    if (et < 0) {
      this.counts[-et]!++;
      return false;
    }
    if (et !== ET_IPV4 && et !== ET_IPV6) {
      this.counts[R['decode.not_ip']]!++;
      return false;
    }
    const r = this.ip(v, b, v.outerIpOff, end, et === ET_IPV4 ? 4 : 6, true);
    this.counts[r]!++;
    return r === R['decode.ok'] || r === R['decode.fragment'] || r === R['decode.other_proto'] ||
      r === R['decode.tunnel_6in4'] || r === R['decode.tunnel_ipip'] || r === R['decode.tunnel_gtpu'] ||
      r === R['decode.ipv4_length_exceeds_frame'] || (r === R['decode.tcp_truncated'] && v.l4Off > 0);
  }

  /** IP layer at p; returns a reason index. */
  private ip(v: PacketView, b: Buffer, p: number, end: number, ver: number, outer: boolean): number {
    let ipEnd: number;
    let proto: number;
    let l4: number;
    let note = R['decode.ok'];
    if (ver === 4) {
      if (p + 20 > end) return R['decode.ipv4_truncated'];
      const vihl = u8(b, p);
      const ihl = (vihl & 15) * 4;
      if (vihl >> 4 !== 4 || ihl < 20) return R['decode.ipv4_bad_header'];
      if (p + ihl > end) return R['decode.ipv4_truncated'];
      let total = u16(b, p + 2);
      if (total === 0) total = v.wireLen - (p - v.start); // TSO/GRO capture: length left as 0
      if (total < ihl) return R['decode.ipv4_bad_header'];
      ipEnd = p + total;
      if (outer) {
        v.outerIpOff = p;
        v.outerIpLen = total;
      }
      if (ipEnd > end && v.capLen >= v.wireLen) note = R['decode.ipv4_length_exceeds_frame'];
      const fo = u16(b, p + 6);
      const fragOff = fo & 0x1fff;
      v.ipVersion = 4;
      v.ipOff = p;
      v.src4 = u32(b, p + 12);
      v.dst4 = u32(b, p + 16);
      proto = u8(b, p + 9);
      v.proto = proto;
      if (fo & 0x2000 || fragOff !== 0) {
        v.fragment = true;
        v.fragFirst = fragOff === 0;
        v.fragId = u16(b, p + 4);
        if (!v.fragFirst) return R['decode.fragment'];
        note = R['decode.fragment'];
      }
      l4 = p + ihl;
    } else {
      if (p + 40 > end) return R['decode.ipv6_truncated'];
      if (u8(b, p) >> 4 !== 6) return R['decode.ipv6_truncated'];
      const plen = u16(b, p + 4);
      ipEnd = plen === 0 ? end : p + 40 + plen;
      if (outer) {
        v.outerIpOff = p;
        v.outerIpLen = plen === 0 ? end - p : 40 + plen;
      }
      v.ipVersion = 6;
      v.ipOff = p;
      v.src6Off = p + 8;
      v.dst6Off = p + 24;
      proto = u8(b, p + 6);
      l4 = p + 40;
      // RFC 8200 §4: walk extension headers
      for (let guard = 0; guard < 16; guard++) {
        if (proto === 0 || proto === 43 || proto === 60 || proto === 135 || proto === 139 || proto === 140) {
          if (l4 + 8 > end) return R['decode.ipv6_ext_truncated'];
          proto = u8(b, l4);
          l4 += (u8(b, l4 + 1) + 1) * 8;
        } else if (proto === 51) {
          if (l4 + 8 > end) return R['decode.ipv6_ext_truncated'];
          proto = u8(b, l4);
          l4 += (u8(b, l4 + 1) + 2) * 4;
        } else if (proto === 44) {
          if (l4 + 8 > end) return R['decode.ipv6_ext_truncated'];
          const fo = u16(b, l4 + 2);
          v.fragment = true;
          v.fragFirst = fo >> 3 === 0;
          v.fragId = u32(b, l4 + 4);
          proto = u8(b, l4);
          l4 += 8;
          v.proto = proto;
          if (!v.fragFirst) return R['decode.fragment'];
          note = R['decode.fragment'];
        } else break;
      }
      v.proto = proto;
    }
    if (ipEnd > end) ipEnd = end;
    // tunnels: 6in4 (41), IP-in-IP (4)
    if ((proto === 41 || proto === 4) && v.tunnels < MAX_TUNNELS) {
      v.tunnels++;
      const r = this.ip(v, b, l4, ipEnd, proto === 41 ? 6 : 4, false);
      if (r === R['decode.ok']) return proto === 41 ? R['decode.tunnel_6in4'] : R['decode.tunnel_ipip'];
      // The inner IP header itself is cut: the tunnel is truncated, not the outer packet.
      if (r === R['decode.ipv4_truncated'] || r === R['decode.ipv6_truncated']) return R['decode.tunnel_truncated'];
      return r;
    }
    v.l4Off = l4;
    if (proto === 6) {
      if (l4 + 4 > ipEnd) {
        v.l4Off = 0;
        return R['decode.tcp_truncated'];
      }
      v.srcPort = u16(b, l4);
      v.dstPort = u16(b, l4 + 2);
      if (l4 + 20 > ipEnd) {
        if (l4 + 14 <= ipEnd) v.tcpFlags = u8(b, l4 + 13);
        return R['decode.tcp_truncated'];
      }
      v.tcpSeq = u32(b, l4 + 4);
      v.tcpAck = u32(b, l4 + 8);
      v.tcpFlags = u8(b, l4 + 13);
      const doff = (u8(b, l4 + 12) >> 4) * 4;
      if (doff < 20) return R['decode.tcp_bad_offset'];
      const stated = (v.ipVersion === 4 ? v.ipOff + u16(b, v.ipOff + 2) : ipEnd) - (l4 + doff);
      v.payloadOff = l4 + doff;
      v.payloadWireLen = stated > 0 ? stated : 0;
      const avail = ipEnd - v.payloadOff;
      v.payloadLen = avail > 0 ? avail : 0;
      return note;
    }
    if (proto === 17) {
      if (l4 + 8 > ipEnd) {
        v.l4Off = 0;
        return R['decode.udp_truncated'];
      }
      v.srcPort = u16(b, l4);
      v.dstPort = u16(b, l4 + 2);
      const ulen = u16(b, l4 + 4);
      v.payloadOff = l4 + 8;
      v.payloadWireLen = ulen >= 8 ? ulen - 8 : 0;
      const stop = ulen >= 8 && l4 + ulen < ipEnd ? l4 + ulen : ipEnd;
      v.payloadLen = stop - v.payloadOff;
      if ((v.srcPort === GTPU_PORT || v.dstPort === GTPU_PORT) && v.tunnels < MAX_TUNNELS) {
        const r = this.gtpu(v, b, v.payloadOff, stop);
        if (r >= 0) return r;
      }
      return note;
    }
    if (proto === 132) {
      // SCTP common header (RFC 9260 §3.1): source port u16 | destination port u16 | tag | checksum
      if (l4 + 12 > ipEnd) {
        v.l4Off = 0;
        return R['decode.sctp_truncated'];
      }
      v.srcPort = u16(b, l4);
      v.dstPort = u16(b, l4 + 2);
      v.payloadOff = l4 + 12;
      v.payloadLen = 0;
      return note;
    }
    if (proto === 1 || proto === 58) {
      if (l4 + 4 > ipEnd) {
        v.l4Off = 0;
        return R['decode.icmp_truncated'];
      }
      const type = u8(b, l4);
      const pair = icmpCounterpart(proto, type);
      v.srcPort = type;
      v.dstPort = pair >= 0 ? pair : u8(b, l4 + 1);
      v.payloadOff = l4 + 4;
      v.payloadLen = 0;
      return note;
    }
    return note === R['decode.ok'] ? R['decode.other_proto'] : note;
  }

  /**
   * GTP-U (3GPP TS 29.281 §5): flags u8 (version 1, PT 1, E/S/PN) | type u8 (0xff = G-PDU) |
   * length u16 | TEID u32 | [seq u16 | N-PDU u8 | next ext u8] | extension headers. Returns a
   * reason when the inner packet was decoded, or -1 to keep the packet as the outer UDP flow.
   */
  private gtpu(v: PacketView, b: Buffer, p: number, end: number): number {
    if (p + 8 > end) return -1;
    const flags = u8(b, p);
    if (flags >> 5 !== 1 || (flags & 0x10) === 0 || u8(b, p + 1) !== 0xff) return -1;
    let q = p + 8;
    if (flags & 0x07) {
      if (q + 4 > end) return -1;
      let next = u8(b, q + 3);
      q += 4;
      while (next !== 0) {
        if (q + 1 > end) return -1;
        const len = u8(b, q) * 4;
        if (len === 0 || q + len > end) return -1;
        next = u8(b, q + len - 1);
        q += len;
      }
    }
    if (q >= end) return -1;
    const ver = u8(b, q) >> 4;
    if (ver !== 4 && ver !== 6) return -1;
    // keep the outer view if the inner packet is unusable
    const save = [v.ipVersion, v.ipOff, v.src4, v.dst4, v.src6Off, v.dst6Off, v.proto, v.l4Off, v.srcPort, v.dstPort, v.payloadOff, v.payloadLen, v.payloadWireLen] as const;
    v.tunnels++;
    const r = this.ip(v, b, q, end, ver, false);
    if (r === R['decode.ok']) return R['decode.tunnel_gtpu'];
    if (r === R['decode.fragment'] || r === R['decode.other_proto']) return r;
    [v.ipVersion, v.ipOff, v.src4, v.dst4, v.src6Off, v.dst6Off, v.proto, v.l4Off, v.srcPort, v.dstPort, v.payloadOff, v.payloadLen, v.payloadWireLen] = save;
    v.tunnels--;
    return -1;
  }
}
