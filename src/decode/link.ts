/**
 * Link layers → the offset and EtherType of the network layer. Writes VLAN ids into the view.
 * Returns the EtherType (0x0800 IPv4, 0x86dd IPv6, other = not IP) with the L3 offset in
 * `v.outerIpOff`, or a negative decode reason index.
 */
import { u16, u8 } from './bytes.js';
import { R } from './reasons.js';
import type { PacketView } from './view.js';

export const ET_IPV4 = 0x0800;
export const ET_IPV6 = 0x86dd;
const ET_VLAN = 0x8100;
const ET_QINQ = 0x88a8;
const ET_QINQ_OLD = 0x9100;
const ET_PPPOE_SESSION = 0x8864;
const ET_MPLS = 0x8847;

/** LINKTYPE_* numbers (tcpdump.org/linktypes.html). */
export const LINK = {
  NULL: 0,
  ETHERNET: 1,
  PPP: 9,
  RAW: 101,
  RAW_OPENBSD: 14,
  RAW_ALT: 12,
  PPP_HDLC: 50,
  LINUX_SLL: 113,
  LOOP: 108,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

/** PPP protocol field → EtherType (RFC 1661/1332/5072). */
function pppProto(p: number): number {
  if (p === 0x0021) return ET_IPV4;
  if (p === 0x0057) return ET_IPV6;
  return -1;
}

/** BSD loopback address family (host or network order) → EtherType. */
function bsdFamily(f: number): number {
  if (f === 2) return ET_IPV4;
  // AF_INET6 differs per BSD: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (Darwin), 10 (Linux)
  if (f === 24 || f === 28 || f === 30 || f === 10) return ET_IPV6;
  return -1;
}

/** Walk 802.1Q/802.1ad/PPPoE/MPLS given an EtherType `et` whose header starts at offset p. */
function afterEthertype(v: PacketView, b: Buffer, et: number, p: number, end: number): number {
  for (;;) {
    if (et === ET_VLAN || et === ET_QINQ || et === ET_QINQ_OLD) {
      if (p + 4 > end) return -R['decode.vlan_truncated'];
      const id = u16(b, p) & 0x0fff;
      if (v.vlanDepth === 0) v.vlan0 = id;
      else if (v.vlanDepth === 1) v.vlan1 = id;
      v.vlanDepth++;
      et = u16(b, p + 2);
      p += 4;
      continue;
    }
    if (et === ET_PPPOE_SESSION) {
      // RFC 2516: ver/type u8 | code u8 | session u16 | length u16 | PPP protocol u16
      if (p + 8 > end) return -R['decode.link_truncated'];
      const pe = pppProto(u16(b, p + 6));
      if (pe < 0) return -R['decode.not_ip'];
      v.outerIpOff = p + 8;
      return pe;
    }
    if (et === ET_MPLS) {
      // label stack entries of 4 bytes until bottom-of-stack; then guess IP by version nibble
      for (;;) {
        if (p + 4 > end) return -R['decode.link_truncated'];
        const bos = u8(b, p + 2) & 1;
        p += 4;
        if (bos) break;
      }
      if (p >= end) return -R['decode.link_truncated'];
      const ver = u8(b, p) >> 4;
      v.outerIpOff = p;
      return ver === 4 ? ET_IPV4 : ver === 6 ? ET_IPV6 : -R['decode.not_ip'];
    }
    v.outerIpOff = p;
    return et;
  }
}

export function decodeLink(v: PacketView, b: Buffer, off: number, end: number, linkType: number): number {
  switch (linkType) {
    case LINK.ETHERNET:
      if (off + 14 > end) return -R['decode.link_truncated'];
      return afterEthertype(v, b, u16(b, off + 12), off + 14, end);
    case LINK.RAW:
    case LINK.RAW_ALT:
    case LINK.RAW_OPENBSD: {
      if (off >= end) return -R['decode.link_truncated'];
      v.outerIpOff = off;
      const ver = u8(b, off) >> 4;
      return ver === 4 ? ET_IPV4 : ver === 6 ? ET_IPV6 : -R['decode.not_ip'];
    }
    case LINK.IPV4:
      v.outerIpOff = off;
      return ET_IPV4;
    case LINK.IPV6:
      v.outerIpOff = off;
      return ET_IPV6;
    case LINK.LINUX_SLL:
      // packet type u16 | ARPHRD u16 | addr len u16 | addr 8 | protocol u16
      if (off + 16 > end) return -R['decode.link_truncated'];
      return afterEthertype(v, b, u16(b, off + 14), off + 16, end);
    case LINK.LINUX_SLL2:
      // protocol u16 | reserved u16 | ifindex u32 | ARPHRD u16 | pkt type u8 | addr len u8 | addr 8
      if (off + 20 > end) return -R['decode.link_truncated'];
      return afterEthertype(v, b, u16(b, off), off + 20, end);
    case LINK.NULL: {
      if (off + 4 > end) return -R['decode.link_truncated'];
      // host byte order of the capturing machine: accept either
      const le = b.readUInt32LE(off);
      const fam = le < 256 ? le : b.readUInt32BE(off);
      v.outerIpOff = off + 4;
      const et = bsdFamily(fam);
      return et < 0 ? -R['decode.not_ip'] : et;
    }
    case LINK.LOOP: {
      if (off + 4 > end) return -R['decode.link_truncated'];
      v.outerIpOff = off + 4;
      const et = bsdFamily(b.readUInt32BE(off));
      return et < 0 ? -R['decode.not_ip'] : et;
    }
    case LINK.PPP:
    case LINK.PPP_HDLC: {
      // optional HDLC address/control 0xff 0x03, then a 1- or 2-byte protocol (RFC 1661 §2)
      let p = off;
      if (p + 2 <= end && u8(b, p) === 0xff && u8(b, p + 1) === 0x03) p += 2;
      if (p + 1 > end) return -R['decode.link_truncated'];
      let proto: number;
      if (u8(b, p) & 1) {
        proto = u8(b, p);
        p += 1;
      } else {
        if (p + 2 > end) return -R['decode.link_truncated'];
        proto = u16(b, p);
        p += 2;
      }
      v.outerIpOff = p;
      const et = pppProto(proto);
      return et < 0 ? -R['decode.not_ip'] : et;
    }
    default:
      return -R['decode.unknown_link_type'];
  }
}
