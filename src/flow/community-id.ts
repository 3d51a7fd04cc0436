/**
 * Community ID flow hash, version 1 (corelight/community-id-spec): base64 of
 * SHA-1(seed u16 | saddr | daddr | proto u8 | 0 u8 | sport u16 | dport u16), endpoints ordered so
 * that the smaller (address, port) comes first; ICMP types without a reply type (decode/icmp.ts)
 * are one-way and never reordered; SCTP hashes its ports like TCP and UDP.
 * Computed once per emitted flow, never per packet — or, for a table that defers it (`lazy`,
 * src/flow/table.ts), once per record that leaves the process (`communityIdOf`).
 */
import { createHash, hash as oneShotHash } from 'node:crypto';
import type { FlowRecord } from '../records.js';
import { icmpCounterpart } from '../decode/icmp.js';
import { parseAddr } from '../decode/addr.js';

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

/**
 * The value a flow table that defers the Community ID (`FlowTable.lazyCommunityId`) leaves in an
 * IPv4 record's `communityId` until `communityIdOf` fills it in.
 */
export const COMMUNITY_ID_DEFERRED = '';

/** A dotted quad as a big-endian u32, as the flow table keys it (the records' own canonical text). */
function v4Word(s: string): number {
  let w = 0;
  let octet = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      w = (w << 8) | octet;
      octet = 0;
    } else octet = octet * 10 + (c - 48);
  }
  return ((w << 8) | octet) >>> 0;
}

const LAZY_WORDS = new Uint32Array(2);
const V4_TEXT = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/**
 * `rec.communityId`, computed and stored in the record first when the flow table deferred it: the
 * same value the table computes when it does not defer (`emitRecord`). Every place where a record
 * leaves the process (outputs, observations with a verdict, the store, the fleet) reads it
 * through this.
 */
export function communityIdOf(rec: FlowRecord): string {
  if (rec.communityId !== COMMUNITY_ID_DEFERRED) return rec.communityId;
  const proto = rec.proto;
  // ICMP types without a reply type are one-way: sender first (as emitRecord)
  const oneWay = (proto === 1 || proto === 58) && icmpCounterpart(proto, rec.origPort) !== rec.respPort;
  if (V4_TEXT.test(rec.origAddr) && V4_TEXT.test(rec.respAddr)) {
    const w = LAZY_WORDS;
    w[0] = v4Word(rec.origAddr);
    w[1] = v4Word(rec.respAddr);
    rec.communityId = communityIdOfWords(proto, w, 0, rec.origPort, 1, rec.respPort, false, oneWay);
  } else {
    // not a deferred table record (those are IPv4): a record made elsewhere without its ID
    const a = parseAddr(rec.origAddr);
    const b = parseAddr(rec.respAddr);
    if (a !== undefined && b !== undefined && a.length === b.length) rec.communityId = communityId(proto, a, rec.origPort, b, rec.respPort, oneWay);
  }
  return rec.communityId;
}
