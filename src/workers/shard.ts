/**
 * Which worker a packet goes to: a symmetric hash of the flow key, so both directions of a flow
 * land on one worker.
 *
 * The key is the flow table's (src/flow/table.ts): the decoded (innermost) addresses and ports,
 * ordered so that both directions give the same words, and the protocol. Packets the decoder
 * cannot key to a flow go to worker 0 (its decoder counts them).
 *
 * IP fragments: a first fragment carries the ports and is hashed like the rest of its flow; its
 * worker is remembered under the fragment's (source, destination, id, protocol, VLAN) — the key
 * the flow table uses to join later fragments to it — so later fragments follow it. A later
 * fragment whose first was not seen goes where its addresses hash (the flow table there counts it
 * as an orphan, as one table would). The map is bounded like the flow table's own.
 */
import { pathToFileURL } from 'node:url';
import { PacketView } from '../decode/view.js';
import { Decoder } from '../decode/decoder.js';
import type { PacketBatch } from '../records.js';
import { u16, u32 } from '../decode/bytes.js';
import { LruMap } from '../bounded/lru.js';
import { fragKey } from '../flow/table.js';

/** Picks a worker in [0, n) for a decoded packet (`keyed`: the decoder could key it). */
export type ShardFn = (v: PacketView, keyed: boolean, n: number) => number;

function mix(h: number, w: number): number {
  const x = Math.imul(h ^ w, 0x85ebca6b);
  return x ^ (x >>> 13);
}

function fin(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35);
  return (h ^ (h >>> 13)) >>> 0;
}

/** Symmetric hash of an IPv4 flow (addresses as unsigned 32-bit words). */
function hash4(s: number, d: number, sp: number, dp: number, proto: number): number {
  const swap = s > d || (s === d && sp > dp);
  let h = mix(mix(0x9e3779b9, swap ? d : s), swap ? s : d);
  h = mix(h, swap ? ((dp << 16) | sp) >>> 0 : ((sp << 16) | dp) >>> 0);
  return fin(mix(h, (4 << 8) | proto));
}

/** Symmetric hash of an IPv6 flow (addresses at `so` and `dO` in `b`). */
function hash6(b: Buffer, so: number, dO: number, sp: number, dp: number, proto: number): number {
  let cmp = 0;
  for (let i = 0; i < 16 && cmp === 0; i += 4) {
    const x = u32(b, so + i);
    const y = u32(b, dO + i);
    cmp = x < y ? -1 : x > y ? 1 : 0;
  }
  const swap = cmp > 0 || (cmp === 0 && sp > dp);
  const ao = swap ? dO : so;
  const bo = swap ? so : dO;
  let h = 0x9e3779b9;
  for (let i = 0; i < 16; i += 4) h = mix(h, u32(b, ao + i));
  for (let i = 0; i < 16; i += 4) h = mix(h, u32(b, bo + i));
  h = mix(h, swap ? ((dp << 16) | sp) >>> 0 : ((sp << 16) | dp) >>> 0);
  return fin(mix(h, (6 << 8) | proto));
}

/**
 * Symmetric 32-bit hash of a keyed packet's flow: the same for both directions. With `ports`
 * false only the addresses (and protocol) are hashed.
 */
export function flowHash(v: PacketView, ports: boolean): number {
  const sp = ports ? v.srcPort : 0;
  const dp = ports ? v.dstPort : 0;
  return v.ipVersion === 4 ? hash4(v.src4 >>> 0, v.dst4 >>> 0, sp, dp, v.proto) : hash6(v.buf, v.src6Off, v.dst6Off, sp, dp, v.proto);
}

const GTPU_PORT = 2152;

/**
 * The flow hash straight from the bytes of the common packet — Ethernet, up to two VLAN tags,
 * IPv4 (unfragmented) or IPv6 (no extension header), TCP or UDP — without decoding it: the
 * value flowHash gives for the decoded packet. -1 for every other packet (tunnels, fragments,
 * other links or protocols, anything cut short): those take the decoder.
 */
export function quickFlowHash(b: Buffer, off: number, capLen: number, linkType: number): number {
  if (linkType !== 1) return -1;
  const end = off + capLen;
  let p = off + 14;
  if (p > end) return -1;
  let et = u16(b, p - 2);
  for (let k = 0; k < 2 && (et === 0x8100 || et === 0x88a8); k++) {
    if (p + 4 > end) return -1;
    et = u16(b, p + 2);
    p += 4;
  }
  if (et === 0x0800) {
    if (p + 20 > end) return -1;
    const vihl = b[p]!;
    const ihl = (vihl & 15) * 4;
    if (vihl >> 4 !== 4 || ihl < 20) return -1;
    if ((u16(b, p + 6) & 0x3fff) !== 0) return -1;
    const proto = b[p + 9]!;
    if (proto !== 6 && proto !== 17) return -1;
    const l4 = p + ihl;
    if (l4 + 4 > end) return -1;
    const sp = u16(b, l4);
    const dp = u16(b, l4 + 2);
    if (proto === 17 && (sp === GTPU_PORT || dp === GTPU_PORT)) return -1;
    return hash4(u32(b, p + 12), u32(b, p + 16), sp, dp, proto);
  }
  if (et === 0x86dd) {
    if (p + 44 > end || b[p]! >> 4 !== 6) return -1;
    const proto = b[p + 6]!;
    if (proto !== 6 && proto !== 17) return -1;
    const sp = u16(b, p + 40);
    const dp = u16(b, p + 42);
    if (proto === 17 && (sp === GTPU_PORT || dp === GTPU_PORT)) return -1;
    return hash6(b, p + 8, p + 24, sp, dp, proto);
  }
  return -1;
}

/** The default shard function with its fragment map (one per reader). */
export function flowSharder(maxFragments: number): ShardFn {
  const frags = new LruMap<string, number>('workers.fragments', Math.max(1, maxFragments));
  return (v, keyed, n) => {
    if (!keyed || n <= 1) return 0;
    if (v.l4Off === 0 && v.fragment && !v.fragFirst) {
      const w = frags.peek(fragKey(v));
      return w !== undefined && w < n ? w : flowHash(v, false) % n;
    }
    const w = flowHash(v, true) % n;
    if (v.fragment && v.fragFirst) frags.set(fragKey(v), w);
    return w;
  };
}

/**
 * The worker of each packet of the stream, as every reader of it must agree: the common packet
 * keyed from its headers (quickFlowHash), every other one decoded and given to the shard
 * function with its fragment map. One per reader of the stream (the reader thread, or each
 * worker reading the files itself), fed every packet in stream order (the fragment map
 * depends on it).
 */
export class PacketKeyer {
  private readonly dec = new Decoder();
  private readonly v = new PacketView();
  private readonly quick: boolean;

  private constructor(
    readonly n: number,
    private readonly shard: ShardFn,
    custom: boolean,
  ) {
    // a test's shard module decides for every packet
    this.quick = !custom && n > 1;
  }

  /** With the flow hash, or the `shard` export of `shardModule` (tests force placements with it). */
  static async create(n: number, maxFragments: number, shardModule?: string): Promise<PacketKeyer> {
    if (shardModule === undefined) return new PacketKeyer(n, flowSharder(maxFragments), false);
    const mod = (await import(shardModule.startsWith('file:') ? shardModule : pathToFileURL(shardModule).href)) as { shard: ShardFn };
    return new PacketKeyer(n, mod.shard, true);
  }

  /** The worker, in [0, n), of packet `i` of `b`. */
  worker(b: PacketBatch, i: number): number {
    const off = b.offset[i]!;
    const capLen = b.capLen[i]!;
    const q = this.quick ? quickFlowHash(b.buf, off, capLen, b.linkType[i]!) : -1;
    if (q >= 0) return q % this.n;
    const keyed = this.dec.decode(this.v, b.buf, off, capLen, b.wireLen[i]!, b.linkType[i]!, b.tsUs[i]!, b.ifIndex[i]!);
    const w = this.shard(this.v, keyed, this.n);
    return w >= 0 && w < this.n ? w : 0;
  }
}
