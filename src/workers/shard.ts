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
import type { PacketView } from '../decode/view.js';
import { u32 } from '../decode/bytes.js';
import { LruMap } from '../bounded/lru.js';

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

/**
 * Symmetric 32-bit hash of a keyed packet's flow: the same for both directions. With `ports`
 * false only the addresses (and protocol) are hashed.
 */
export function flowHash(v: PacketView, ports: boolean): number {
  const sp = ports ? v.srcPort : 0;
  const dp = ports ? v.dstPort : 0;
  let h = 0x9e3779b9;
  if (v.ipVersion === 4) {
    const s = v.src4 >>> 0;
    const d = v.dst4 >>> 0;
    const swap = s > d || (s === d && sp > dp);
    h = mix(mix(h, swap ? d : s), swap ? s : d);
    h = mix(h, swap ? ((dp << 16) | sp) >>> 0 : ((sp << 16) | dp) >>> 0);
  } else {
    const b = v.buf;
    const so = v.src6Off;
    const dO = v.dst6Off;
    let cmp = 0;
    for (let i = 0; i < 16 && cmp === 0; i += 4) {
      const x = u32(b, so + i);
      const y = u32(b, dO + i);
      cmp = x < y ? -1 : x > y ? 1 : 0;
    }
    const swap = cmp > 0 || (cmp === 0 && sp > dp);
    const ao = swap ? dO : so;
    const bo = swap ? so : dO;
    for (let i = 0; i < 16; i += 4) h = mix(h, u32(b, ao + i));
    for (let i = 0; i < 16; i += 4) h = mix(h, u32(b, bo + i));
    h = mix(h, swap ? ((dp << 16) | sp) >>> 0 : ((sp << 16) | dp) >>> 0);
  }
  return fin(mix(h, (v.ipVersion << 8) | v.proto));
}

/** The flow table's fragment key (src/flow/table.ts fragKey): same source, destination, id, protocol, VLAN. */
function fragKey(v: PacketView): string {
  const b = v.buf;
  return v.ipVersion === 4
    ? `4|${v.src4}|${v.dst4}|${v.fragId}|${v.proto}|${v.vlan0}`
    : `6|${b.toString('hex', v.src6Off, v.src6Off + 16)}|${b.toString('hex', v.dst6Off, v.dst6Off + 16)}|${v.fragId}|${v.vlan0}`;
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
