/**
 * Test helper: a small classic pcap (µs, little-endian, Ethernet) of `count` IPv4/UDP frames
 * between two documentation addresses (RFC 5737), for tcpreplay onto a namespace's veth pair.
 */
import { writeFileSync } from 'node:fs';

/** RFC 791 §3.1 header checksum: one's complement of the one's-complement sum of 16-bit words. */
function ipv4Checksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function udpFrame(i: number, payloadLen = 16): Buffer {
  const eth = Buffer.from([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]);
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + 8 + payloadLen, 2);
  ip.writeUInt16BE(i & 0xffff, 4);
  ip.writeUInt8(64, 8);
  ip.writeUInt8(17, 9);
  Buffer.from([192, 0, 2, 1]).copy(ip, 12);
  Buffer.from([192, 0, 2, 2]).copy(ip, 16);
  ip.writeUInt16BE(ipv4Checksum(ip), 10);
  const udp = Buffer.alloc(8); // RFC 768: checksum 0 = none
  udp.writeUInt16BE(40000 + (i % 1000), 0);
  udp.writeUInt16BE(9999, 2);
  udp.writeUInt16BE(8 + payloadLen, 4);
  return Buffer.concat([eth, ip, udp, Buffer.alloc(payloadLen)]);
}

export function writeUdpPcap(path: string, count: number): void {
  const hdr = Buffer.alloc(24);
  hdr.writeUInt32LE(0xa1b2c3d4, 0);
  hdr.writeUInt16LE(2, 4);
  hdr.writeUInt16LE(4, 6);
  hdr.writeUInt32LE(65535, 16);
  hdr.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const parts: Buffer[] = [hdr];
  const t0 = Math.floor(Date.now() / 1000);
  for (let i = 0; i < count; i++) {
    const f = udpFrame(i);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(t0, 0);
    rec.writeUInt32LE(i * 1000, 4);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    parts.push(rec, f);
  }
  writeFileSync(path, Buffer.concat(parts));
}
