/**
 * Community ID flow hash, version 1 (corelight/community-id-spec): base64 of
 * SHA-1(seed u16 | saddr | daddr | proto u8 | 0 u8 | sport u16 | dport u16), endpoints ordered so
 * that the smaller (address, port) comes first; ICMP types without a reply type (decode/icmp.ts)
 * are one-way and never reordered; SCTP hashes its ports like TCP and UDP.
 * Computed once per emitted flow, never per packet.
 */
import { createHash, hash as oneShotHash } from 'node:crypto';

/** One-shot hashing (Node ≥ 20.12) avoids a Hash object per flow; createHash otherwise. */
const sha1b64: (b: Uint8Array) => string =
  typeof oneShotHash === 'function'
    ? (b) => oneShotHash('sha1', b, 'base64')
    : (b) => createHash('sha1').update(b).digest('base64');

function hasPorts(proto: number): boolean {
  return proto === 6 || proto === 17 || proto === 1 || proto === 58 || proto === 132;
}

/**
 * Community ID of an address pair given as bytes (4 or 16 each), seed 0: the same computation
 * as the flow table's `communityIdOfWords`, which it calls (tools and tests use this form).
 */
export function communityId(proto: number, src: Uint8Array, sport: number, dst: Uint8Array, dport: number, oneWay = false): string {
  const n = src.length === 16 ? 4 : 1;
  const w = new Uint32Array(2 * n);
  for (let i = 0; i < n; i++) {
    w[i] = ((src[4 * i]! << 24) | (src[4 * i + 1]! << 16) | (src[4 * i + 2]! << 8) | src[4 * i + 3]!) >>> 0;
    w[n + i] = ((dst[4 * i]! << 24) | (dst[4 * i + 1]! << 16) | (dst[4 * i + 2]! << 8) | dst[4 * i + 3]!) >>> 0;
  }
  return communityIdOfWords(proto, w, 0, sport, n, dport, n === 4, oneWay);
}

// Scratch inputs for the flow table's path, one per (address size, ports or not): the hash
// input is written in place, so emitting a flow allocates nothing but the result string.
const SCRATCH: readonly Buffer[] = [Buffer.alloc(16), Buffer.alloc(12), Buffer.alloc(40), Buffer.alloc(36)];

function putWord(buf: Buffer, at: number, x: number): void {
  buf[at] = x >>> 24;
  buf[at + 1] = (x >>> 16) & 255;
  buf[at + 2] = (x >>> 8) & 255;
  buf[at + 3] = x & 255;
}

/**
 * The same hash from address words as the flow table keeps them (big-endian u32 words, 1 for
 * IPv4 and 4 for IPv6, at `sOff` and `dOff` of `w`), seed 0. Ordering as `communityId`.
 */
export function communityIdOfWords(
  proto: number,
  w: Uint32Array,
  sOff: number,
  sport: number,
  dOff: number,
  dport: number,
  v6: boolean,
  oneWay: boolean,
): string {
  const n = v6 ? 4 : 1;
  let swap = false;
  if (!oneWay) {
    let cmp = 0;
    for (let i = 0; i < n && cmp === 0; i++) {
      const x = w[sOff + i] ?? 0;
      const y = w[dOff + i] ?? 0;
      cmp = x < y ? -1 : x > y ? 1 : 0;
    }
    swap = cmp > 0 || (cmp === 0 && sport >= dport);
  }
  const a = swap ? dOff : sOff;
  const b = swap ? sOff : dOff;
  const ports = hasPorts(proto);
  const buf = SCRATCH[(v6 ? 2 : 0) + (ports ? 0 : 1)] as Buffer;
  buf[0] = 0;
  buf[1] = 0;
  let o = 2;
  for (let i = 0; i < n; i++, o += 4) putWord(buf, o, w[a + i] ?? 0);
  for (let i = 0; i < n; i++, o += 4) putWord(buf, o, w[b + i] ?? 0);
  buf[o++] = proto;
  buf[o++] = 0;
  if (ports) {
    const sp = swap ? dport : sport;
    const dp = swap ? sport : dport;
    buf[o] = sp >>> 8;
    buf[o + 1] = sp & 255;
    buf[o + 2] = dp >>> 8;
    buf[o + 3] = dp & 255;
  }
  return `1:${sha1b64(buf)}`;
}
