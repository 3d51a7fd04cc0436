/**
 * Community ID flow hash, version 1 (corelight/community-id-spec): base64 of
 * SHA-1(seed u16 | saddr | daddr | proto u8 | 0 u8 | sport u16 | dport u16), endpoints ordered so
 * that the smaller (address, port) comes first; ICMP one-way message types are not reordered.
 * Computed once per emitted flow, never per packet.
 */
import { createHash } from 'node:crypto';

function less(a: Uint8Array, ap: number, b: Uint8Array, bp: number): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x < y;
  }
  return ap < bp;
}

export function communityId(
  proto: number,
  src: Uint8Array,
  sport: number,
  dst: Uint8Array,
  dport: number,
  oneWay = false,
  seed = 0,
): string {
  let s = src;
  let d = dst;
  let sp = sport;
  let dp = dport;
  if (!oneWay && !less(src, sport, dst, dport)) {
    s = dst;
    d = src;
    sp = dport;
    dp = sport;
  }
  const buf = Buffer.alloc(2 + s.length * 2 + 2 + 4);
  buf.writeUInt16BE(seed, 0);
  buf.set(s, 2);
  buf.set(d, 2 + s.length);
  let o = 2 + s.length * 2;
  buf[o++] = proto;
  buf[o++] = 0;
  const hasPorts = proto === 6 || proto === 17 || proto === 1 || proto === 58 || proto === 132;
  if (hasPorts) {
    buf.writeUInt16BE(sp, o);
    buf.writeUInt16BE(dp, o + 2);
    return `1:${createHash('sha1').update(buf).digest('base64')}`;
  }
  return `1:${createHash('sha1').update(buf.subarray(0, o)).digest('base64')}`;
}
