/**
 * Bidirectional flow table in typed arrays (no per-packet object; one FlowMeta object per flow).
 *
 * Key: (VLAN ids, IP version, protocol, endpoint A, endpoint B) where A is the smaller
 * (address, port) — so both directions find the same slot. Open addressing with linear probing
 * over an Int32Array index of (slot + 1, 0 = empty; key hash) pairs, backward-shift deletion
 * (no tombstones). The hash beside each slot number lets a probe pass an entry, and a deletion
 * find an entry's home, without reading that slot's columns (a cache miss each, at random).
 * Counters are kept per key direction (A→B, B→A) and mapped to orig/resp when emitted.
 *
 * Orientation (who is `orig`): the sender of a SYN without ACK (`syn`); the receiver of a
 * SYN+ACK (`synack`); otherwise, when the first packet comes from a service port (< 1024 or a
 * known service port) to an ephemeral one, its receiver (`port`) — so a one-sided mirror or a
 * capture that starts mid-flow does not make the server the client; else the sender of the
 * first packet (`first`).
 *
 * Expiry runs on packet time: idle timeouts per class (TCP open, TCP closed, other), an active
 * timeout, and LRU eviction when `maxFlows` is reached. Every flow is emitted exactly once
 * (reasons fin, rst, idle, active, evicted, eof) — evicted flows are emitted, never lost.
 */
import { schemaDefaults, type SensorConfig } from '../config.js';
import type { FlowEndReason, FlowMeta, FlowRecord } from '../records.js';
import { u32 } from '../decode/bytes.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type PacketView } from '../decode/view.js';
import { KW, type FlowColumns } from './columns.js';
import { emitRecord } from './emit.js';
import { FlowLists, LIST_OTHER, LIST_TCP_CLOSED, LIST_TCP_OPEN } from './lists.js';
import { LruMap, type BoundStat } from '../bounded/lru.js';

export interface FlowTableOptions {
  /** Memory bound: flows kept at once; the least recently active is evicted (and emitted). */
  maxFlows: number;
  /** Idle timeouts in seconds (packet time). */
  tcpIdleS: number;
  tcpClosedS: number;
  otherIdleS: number;
  /** A flow longer than this is emitted (`active`) and continues as a new record. */
  activeS: number;
  /** A SYN on a closed TCP flow starts a new flow (port reuse). */
  splitOnReuse: boolean;
  /** First IP fragments remembered for their later fragments (oldest forgotten first). */
  maxFragments: number;
}

/** The flow table's options from the config's `flow` section. */
export function flowTableOptionsFrom(c: SensorConfig['flow']): FlowTableOptions {
  return {
    maxFlows: c.max_flows,
    tcpIdleS: c.tcp_idle_s,
    tcpClosedS: c.tcp_closed_s,
    otherIdleS: c.other_idle_s,
    activeS: c.active_s,
    splitOnReuse: c.split_on_reuse,
    maxFragments: c.max_fragments,
  };
}

/** The product's defaults: the config schema's. */
export const defaultFlowTableOptions: FlowTableOptions = flowTableOptionsFrom(schemaDefaults('flow'));

/** Options that reproduce tshark 4.0's conversation table: no timeouts, no split on reuse. */
export const conversationTableOptions: Partial<FlowTableOptions> = {
  tcpIdleS: Infinity,
  tcpClosedS: Infinity,
  otherIdleS: Infinity,
  activeS: Infinity,
  splitOnReuse: false,
};

/** Service ports that mark the responder when a flow starts without a handshake. */
const SERVICE_PORTS = new Set([443, 8443, 853, 993, 995, 465, 587, 1080, 3128, 8080, 8000, 5000, 11434, 1883, 8883, 5222, 5228, 3478, 4433, 1443, 15432, 5432, 3306]);
function isServicePort(p: number): boolean {
  return p < 1024 || SERVICE_PORTS.has(p);
}

const ST_FIN_A = 1;
const ST_FIN_B = 2;
const ST_RST = 4;

/** Both sides sent FIN, or either sent RST. */
function isClosed(st: number): boolean {
  return (st & ST_RST) !== 0 || (st & (ST_FIN_A | ST_FIN_B)) === (ST_FIN_A | ST_FIN_B);
}

/** End reason of a flow in state `st`: rst/fin when closed, else `open`. */
function endReason(st: number, open: FlowEndReason): FlowEndReason {
  if ((st & ST_RST) !== 0) return 'rst';
  return (st & (ST_FIN_A | ST_FIN_B)) === (ST_FIN_A | ST_FIN_B) ? 'fin' : open;
}

/** One round of the key hash (murmur3-style multiply and shift). */
function mix(h: number, w: number): number {
  const x = Math.imul(h ^ w, 0x85ebca6b);
  return x ^ (x >>> 13);
}
const ORIG_BY = ['syn', 'synack', 'port', 'first'] as const;

/**
 * The key joining an IP fragment to its first fragment's flow: same source, destination, id,
 * protocol (IPv4) and VLAN. A sharded replay keys its fragment placements by it too (src/workers/shard.ts).
 */
export function fragKey(v: PacketView): string {
  const b = v.buf;
  return v.ipVersion === 4
    ? `4|${v.src4}|${v.dst4}|${v.fragId}|${v.proto}|${v.vlan0}`
    : `6|${b.toString('hex', v.src6Off, v.src6Off + 16)}|${b.toString('hex', v.dst6Off, v.dst6Off + 16)}|${v.fragId}|${v.vlan0}`;
}
/** The order expire() and flushAll() walk the lists in, indexed by list. */
const EXPIRY_RANK = [1, 0, 2]; // LIST_TCP_OPEN, LIST_TCP_CLOSED, LIST_OTHER

/** Receives each ended flow's record and its meta; the meta object is the slot's, reused by its next flow (read it during the call only). */
export type FlowSink = (rec: FlowRecord, meta: FlowMeta) => void;

export class FlowTable implements FlowColumns {
  readonly opts: FlowTableOptions;
  private readonly cap: number;
  private readonly mask: number;
  private readonly index: Int32Array;
  readonly keyW: Uint32Array;
  private readonly hashOf: Uint32Array;
  readonly pkts: Float64Array;
  readonly wire: Float64Array;
  readonly capB: Float64Array;
  readonly ipB: Float64Array;
  readonly payB: Float64Array;
  readonly first: Float64Array;
  readonly last: Float64Array;
  readonly flags: Uint8Array;
  readonly origIsA: Uint8Array;
  readonly origBy: Uint8Array;
  private readonly state: Uint8Array;
  readonly ifIdx: Uint16Array;
  /** The meta of the flow in each slot (undefined: free slot). */
  readonly meta: (FlowMeta | undefined)[];
  /**
   * Each slot's meta object, reused by the slot's next flow: a flow's meta lives as long as the
   * flow (a scanned port's until 262,144 later flows evict it), so one object per flow outlived
   * V8's young generation and died in the old one — during a scan, most of what grew the heap
   * between full collections. A meta passed to the sink is therefore valid during that call only.
   */
  private readonly metaOfSlot: (FlowMeta | undefined)[];
  /**
   * `meta[slot].inspect` mirrored in a byte per slot (1 while in the handshake phase), so the
   * packet loop decides "dissect or not" without loading the flow's meta object: a bypassed
   * flow's packets then touch only these typed arrays. The packet path clears it when dissect
   * turns `inspect` off (it only ever goes from true to false).
   */
  readonly inspect: Uint8Array;
  /**
   * Stream position of each flow's last packet (`seq` when it came), and `seq` itself: set per
   * packet by a sharded packet path (src/workers/), 0 otherwise.
   */
  readonly lastSeq: Float64Array;
  seq = 0;
  /**
   * Set just before each flow is emitted: where one table over the whole stream would emit it
   * among the flows one expiry step (or the end of input) emits — its list in the order expiry
   * walks them, then its last packet's stream position. Sharded tables merge by it.
   */
  emitOrder = 0;
  private readonly free: Int32Array;
  private freeTop: number;
  private readonly lists: FlowLists;
  private readonly k = new Uint32Array(KW);
  private nextFlowId = 1;
  /**
   * Overload level new flows are created at (src/pipeline.ts OverloadGovernor): 0 normal, 1 not dissected
   * (inspect off from the start), 2 not dissected and not analyzed (marked for the pipeline).
   */
  shedLevel: 0 | 1 | 2 = 0;
  /**
   * IPv4 records are emitted with their Community ID deferred (`COMMUNITY_ID_DEFERRED`), for
   * `communityIdOf` to compute where a record leaves the process: most records of a scan never
   * do (unnamed, not AI, no flow output), and the SHA-1 was a tenth of their cost. Off (every
   * record complete) unless the owner reads records only through `communityIdOf` (src/pipeline.ts).
   */
  lazyCommunityId = false;
  /** Flows created at overload level 1 and 2 (index 1, 2). */
  readonly shedCreated = [0, 0, 0];

  /** Flows created since start. */
  get created(): number {
    return this.nextFlowId - 1;
  }
  /** Read with `peek` only: the oldest remembered fragment is forgotten first. */
  private readonly fragMap: LruMap<string, { slot: number; flowId: number }>;
  active = 0;
  readonly ended: Record<FlowEndReason, number> = { fin: 0, rst: 0, idle: 0, active: 0, evicted: 0, eof: 0 };
  fragmentsOrphaned = 0;
  private readonly activeUs: number;
  private readonly splitOnReuse: boolean;

  /**
   * `flowId`: the id a new flow gets from its local creation number (1, 2, …); by default that
   * number itself. Sharded packet paths (src/workers/) map it so ids do not depend on the shard.
   */
  constructor(
    opts: Partial<FlowTableOptions>,
    private readonly sink: FlowSink,
    private readonly flowId?: (n: number) => number,
  ) {
    this.opts = { ...defaultFlowTableOptions, ...opts };
    this.activeUs = this.opts.activeS * 1e6;
    this.splitOnReuse = this.opts.splitOnReuse;
    const cap = Math.max(16, this.opts.maxFlows | 0);
    this.cap = cap;
    let size = 1;
    while (size < cap * 2) size <<= 1;
    this.mask = size - 1;
    this.index = new Int32Array(size * 2);
    this.keyW = new Uint32Array(cap * KW);
    this.hashOf = new Uint32Array(cap);
    this.pkts = new Float64Array(cap * 2);
    this.wire = new Float64Array(cap * 2);
    this.capB = new Float64Array(cap * 2);
    this.ipB = new Float64Array(cap * 2);
    this.payB = new Float64Array(cap * 2);
    this.first = new Float64Array(cap);
    this.last = new Float64Array(cap);
    this.flags = new Uint8Array(cap * 2);
    this.origIsA = new Uint8Array(cap);
    this.origBy = new Uint8Array(cap);
    this.state = new Uint8Array(cap);
    this.ifIdx = new Uint16Array(cap);
    this.meta = new Array<FlowMeta | undefined>(cap).fill(undefined);
    this.metaOfSlot = new Array<FlowMeta | undefined>(cap).fill(undefined);
    this.inspect = new Uint8Array(cap);
    this.lastSeq = new Float64Array(cap);
    this.free = new Int32Array(cap);
    for (let i = 0; i < cap; i++) this.free[i] = cap - 1 - i;
    this.freeTop = cap;
    this.lists = new FlowLists(cap);
    this.fragMap = new LruMap('flow.fragments', this.opts.maxFragments);
  }

  /** The table and the fragment map. */
  bounds(): BoundStat[] {
    return [{ structure: 'flow.table', entries: this.active, max: this.cap, evictions: this.ended.evicted }, this.fragMap.stat()];
  }

  /**
   * Account one decoded packet. Sets v.flowSlot / v.fromOrig and returns the slot, or -1 when the
   * packet could not be keyed (orphan fragment).
   */
  update(v: PacketView): number {
    if (v.l4Off === 0 && v.fragment && !v.fragFirst) return this.fragment(v);
    const k = this.k;
    const b = v.buf;
    // fill the key with the packet's src as A; swap below when src > dst
    let swap = false;
    if (v.ipVersion === 4) {
      const s = v.src4;
      const d = v.dst4;
      swap = s > d || (s === d && v.srcPort > v.dstPort);
      k[0] = swap ? d : s;
      k[1] = 0; k[2] = 0; k[3] = 0;
      k[4] = swap ? s : d;
      k[5] = 0; k[6] = 0; k[7] = 0;
    } else {
      const so = v.src6Off;
      const dO = v.dst6Off;
      let cmp = 0;
      for (let i = 0; i < 16 && cmp === 0; i += 4) {
        const x = u32(b, so + i);
        const y = u32(b, dO + i);
        cmp = x < y ? -1 : x > y ? 1 : 0;
      }
      swap = cmp > 0 || (cmp === 0 && v.srcPort > v.dstPort);
      const ao = swap ? dO : so;
      const bo = swap ? so : dO;
      k[0] = u32(b, ao); k[1] = u32(b, ao + 4); k[2] = u32(b, ao + 8); k[3] = u32(b, ao + 12);
      k[4] = u32(b, bo); k[5] = u32(b, bo + 4); k[6] = u32(b, bo + 8); k[7] = u32(b, bo + 12);
    }
    k[8] = swap ? ((v.dstPort << 16) | v.srcPort) >>> 0 : ((v.srcPort << 16) | v.dstPort) >>> 0;
    k[9] = (v.ipVersion << 8) | v.proto;
    k[10] = ((v.vlan0 << 12) | v.vlan1) >>> 0;
    // IPv4 keys have zeros in words 1–3 and 5–7: hash only the words that can differ (the
    // version in word 9 keeps v4 and v6 keys apart).
    let h = 0x9e3779b9;
    if (v.ipVersion === 4) {
      h = mix(mix(mix(mix(mix(h, k[0]!), k[4]!), k[8]!), k[9]!), k[10]!);
    } else {
      for (let i = 0; i < KW; i++) h = mix(h, k[i]!);
    }
    h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35) >>> 0;
    const fromA = !swap;
    let slot = this.find(h);
    const ts = v.tsUs;
    const tcpFlags = v.proto === 6 ? v.tcpFlags : 0;
    if (slot >= 0) {
      // port reuse after close, and the active timeout, both start a new record
      const st = this.state[slot]!;
      if (
        (isClosed(st) && this.splitOnReuse && (tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN) ||
        ts - this.first[slot]! > this.activeUs
      ) {
        this.emit(slot, endReason(st, 'active'));
        slot = -1;
      }
    }
    if (slot < 0) slot = this.create(h, v, fromA, tcpFlags);
    const dir = fromA ? 0 : 1;
    const j = slot * 2 + dir;
    this.pkts[j]!++;
    this.wire[j]! += v.wireLen;
    this.capB[j]! += v.capLen;
    this.ipB[j]! += v.outerIpLen;
    this.payB[j]! += v.payloadWireLen;
    this.flags[j]! |= tcpFlags;
    if (ts > this.last[slot]!) this.last[slot] = ts;
    if (tcpFlags & (TCP_FIN | TCP_RST)) {
      let st = this.state[slot]!;
      if (tcpFlags & TCP_RST) st |= ST_RST;
      if (tcpFlags & TCP_FIN) st |= fromA ? ST_FIN_A : ST_FIN_B;
      this.state[slot] = st;
      if (isClosed(st)) this.lists.move(slot, LIST_TCP_CLOSED);
    }
    this.lists.touch(slot);
    this.lastSeq[slot] = this.seq;
    if (v.fragment && v.fragFirst) this.rememberFragment(v, slot);
    v.flowSlot = slot;
    v.fromOrig = (this.origIsA[slot] === 1) === fromA;
    return slot;
  }

  private find(h: number): number {
    const mask = this.mask;
    const k = this.k;
    const index = this.index;
    const hi = h | 0;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = index[2 * i]!;
      if (e === 0) return -1;
      if (index[2 * i + 1] === hi) {
        const s = e - 1;
        const o = s * KW;
        const w = this.keyW;
        if (w[o] === k[0] && w[o + 4] === k[4] && w[o + 8] === k[8] && w[o + 9] === k[9] && w[o + 10] === k[10] &&
          w[o + 1] === k[1] && w[o + 2] === k[2] && w[o + 3] === k[3] && w[o + 5] === k[5] && w[o + 6] === k[6] && w[o + 7] === k[7]) {
          return s;
        }
      }
    }
  }

  private create(h: number, v: PacketView, fromA: boolean, tcpFlags: number): number {
    if (this.freeTop === 0) this.evictOne();
    const slot = this.free[--this.freeTop]!;
    this.keyW.set(this.k, slot * KW);
    this.hashOf[slot] = h;
    const mask = this.mask;
    let i = h & mask;
    while (this.index[2 * i] !== 0) i = (i + 1) & mask;
    this.index[2 * i] = slot + 1;
    this.index[2 * i + 1] = h | 0;
    const j = slot * 2;
    this.pkts[j] = 0; this.pkts[j + 1] = 0;
    this.wire[j] = 0; this.wire[j + 1] = 0;
    this.capB[j] = 0; this.capB[j + 1] = 0;
    this.ipB[j] = 0; this.ipB[j + 1] = 0;
    this.payB[j] = 0; this.payB[j + 1] = 0;
    this.flags[j] = 0; this.flags[j + 1] = 0;
    this.first[slot] = v.tsUs;
    this.last[slot] = v.tsUs;
    this.state[slot] = 0;
    this.ifIdx[slot] = v.ifIndex;
    // orientation
    let senderIsOrig: boolean;
    let by: number;
    if ((tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
      senderIsOrig = true;
      by = 0;
    } else if ((tcpFlags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) {
      senderIsOrig = false;
      by = 1;
    } else if (isServicePort(v.srcPort) && !isServicePort(v.dstPort)) {
      senderIsOrig = false;
      by = 2;
    } else {
      senderIsOrig = true;
      by = 3;
    }
    this.origIsA[slot] = senderIsOrig === fromA ? 1 : 0;
    this.origBy[slot] = by;
    const origPort = senderIsOrig ? v.srcPort : v.dstPort;
    const respPort = senderIsOrig ? v.dstPort : v.srcPort;
    const shed = this.shedLevel;
    const n = this.nextFlowId++;
    const flowId = this.flowId === undefined ? n : this.flowId(n);
    let meta = this.metaOfSlot[slot];
    if (meta === undefined) {
      // every field spelled out, so each lives in the object (set later, one would add a property array)
      meta = { flowId, proto: v.proto, origPort, respPort, inspect: shed === 0, dissectState: undefined, handshake: undefined, payloadEntropy: undefined, shed: undefined };
      this.metaOfSlot[slot] = meta;
    } else {
      meta.flowId = flowId;
      meta.proto = v.proto;
      meta.origPort = origPort;
      meta.respPort = respPort;
      meta.inspect = shed === 0;
      meta.dissectState = undefined;
      meta.handshake = undefined;
      meta.payloadEntropy = undefined;
      meta.shed = undefined;
    }
    if (shed !== 0) {
      meta.shed = shed;
      this.shedCreated[shed]!++;
    }
    this.meta[slot] = meta;
    this.inspect[slot] = shed === 0 ? 1 : 0;
    this.lists.push(slot, v.proto === 6 ? LIST_TCP_OPEN : LIST_OTHER);
    this.active++;
    return slot;
  }

  private removeIndex(slot: number): void {
    const mask = this.mask;
    const index = this.index;
    let i = this.hashOf[slot]! & mask;
    while (index[2 * i] !== slot + 1) i = (i + 1) & mask;
    // backward-shift deletion
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const e = index[2 * j]!;
      if (e === 0) break;
      const eh = index[2 * j + 1]!;
      const home = eh & mask;
      const between = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!between) {
        index[2 * i] = e;
        index[2 * i + 1] = eh;
        i = j;
      }
    }
    index[2 * i] = 0;
    index[2 * i + 1] = 0;
  }

  /** Emit the flow in `slot` with `reason` and free the slot. */
  emit(slot: number, reason: FlowEndReason): void {
    const meta = this.meta[slot]!;
    this.emitOrder = EXPIRY_RANK[this.lists.of(slot)]! * 2 ** 50 + this.lastSeq[slot]!;
    const rec = emitRecord(this, slot, reason, meta, ORIG_BY[this.origBy[slot]!]!, this.lazyCommunityId);
    this.removeIndex(slot);
    this.lists.remove(slot);
    this.meta[slot] = undefined;
    this.inspect[slot] = 0;
    this.free[this.freeTop++] = slot;
    this.active--;
    this.ended[reason]++;
    this.sink(rec, meta);
  }

  private evictOne(): void {
    const slot = this.lists.oldest(this.last);
    if (slot >= 0) this.emit(slot, 'evicted');
  }

  /** Expire idle flows as of packet time `nowUs`. */
  expire(nowUs: number): void {
    const o = this.opts;
    this.expireList(LIST_TCP_CLOSED, nowUs - o.tcpClosedS * 1e6, null);
    this.expireList(LIST_TCP_OPEN, nowUs - o.tcpIdleS * 1e6, 'idle');
    this.expireList(LIST_OTHER, nowUs - o.otherIdleS * 1e6, 'idle');
  }

  private expireList(list: number, before: number, reason: FlowEndReason | null): void {
    if (!Number.isFinite(before)) return;
    for (let s = this.lists.tail(list); s >= 0 && this.last[s]! < before; s = this.lists.tail(list)) {
      this.emit(s, reason ?? endReason(this.state[s]!, 'fin'));
    }
  }

  /** End of input: emit every open flow (closed TCP flows keep their fin/rst reason). */
  flushAll(): void {
    for (const list of [LIST_TCP_CLOSED, LIST_TCP_OPEN, LIST_OTHER]) {
      for (let s = this.lists.tail(list); s >= 0; s = this.lists.tail(list)) this.emit(s, endReason(this.state[s]!, 'eof'));
    }
  }

  /** Non-first IP fragments join the flow of their first fragment (same src, dst, id, proto). */
  private rememberFragment(v: PacketView, slot: number): void {
    this.fragMap.set(fragKey(v), { slot, flowId: this.meta[slot]!.flowId });
  }

  private fragment(v: PacketView): number {
    const e = this.fragMap.peek(fragKey(v));
    if (e === undefined || this.meta[e.slot]?.flowId !== e.flowId) {
      this.fragmentsOrphaned++;
      return -1;
    }
    const slot = e.slot;
    // direction: is the fragment's source endpoint A of the key?
    const o = slot * KW;
    const fromA = v.ipVersion === 4 ? this.keyW[o] === v.src4 : this.keyW[o] === u32(v.buf, v.src6Off) && this.keyW[o + 3] === u32(v.buf, v.src6Off + 12);
    const j = slot * 2 + (fromA ? 0 : 1);
    this.pkts[j]!++;
    this.wire[j]! += v.wireLen;
    this.capB[j]! += v.capLen;
    this.ipB[j]! += v.outerIpLen;
    if (v.tsUs > this.last[slot]!) this.last[slot] = v.tsUs;
    this.lists.touch(slot);
    this.lastSeq[slot] = this.seq;
    v.flowSlot = slot;
    v.fromOrig = (this.origIsA[slot] === 1) === fromA;
    return slot;
  }
}
