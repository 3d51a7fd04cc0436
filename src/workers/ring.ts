/**
 * A single-producer single-consumer ring of packet batches in shared memory: the reader copies
 * each packet's bytes and descriptor (offset, lengths, time, link type, interface, stream
 * sequence number) into the current slot of its worker's ring and publishes whole slots; the
 * worker processes a slot in place and frees it. No message and no lock per packet: one atomic
 * store and one notify per slot (thousands of packets), Atomics.wait only when a ring is empty
 * (worker) or full (reader).
 *
 * A slot also carries expiry markers (the stream's packet time crossed an expiry step before
 * packet `seq`: every worker expires its idle flows at that time, in stream order) and a header:
 * `seqEnd` (every packet of this worker before that stream position is in this or an earlier
 * slot — the worker's watermark once processed), `batchEnd` (the slot ends one input batch) and
 * `nowUs` (the newest packet time of the stream so far).
 *
 * The control words also hold the worker's output credit (messages posted / taken), so a worker
 * cannot run ahead of the thread that merges its outputs.
 */
import type { PacketBatch } from '../records.js';

export interface RingLayout {
  /** Slots per ring. */
  slots: number;
  /** Packet entries per slot. */
  entries: number;
  /** Packet bytes per slot (a packet larger than this gets a slot of its own, cut to it). */
  dataBytes: number;
  /** Expiry markers per slot. */
  markers: number;
}

export const DEFAULT_RING: RingLayout = { slots: 4, entries: 4096, dataBytes: 4 * 1024 * 1024, markers: 64 };

/** The shared memory of one ring (sent to the worker in its workerData). */
export interface RingBuffers {
  layout: RingLayout;
  ctrl: SharedArrayBuffer;
  slots: SharedArrayBuffer[];
}

/** Control words. */
export const HEAD = 0;
export const TAIL = 1;
export const CLOSED = 2;
/** Output messages the worker posted / the merging thread took. */
export const SENT = 3;
export const TAKEN = 4;
const CTRL_WORDS = 8;

/** Header words (Float64). */
const H_COUNT = 0;
const H_SEQ_END = 1;
const H_BATCH_END = 2;
const H_NOW = 3;
const H_MARKERS = 4;
const HDR = 8;

function slotBytes(l: RingLayout): number {
  const f64 = (HDR + 2 * l.entries + 2 * l.markers) * 8;
  const u32 = (3 * l.entries + l.markers) * 4;
  const u16 = 2 * l.entries * 2;
  return f64 + u32 + u16 + 8 + l.dataBytes;
}

/** Typed views over one slot. */
export class SlotView {
  readonly hdr: Float64Array;
  readonly seq: Float64Array;
  readonly markerSeq: Float64Array;
  readonly markerTs: Float64Array;
  readonly markerPos: Uint32Array;
  /** The slot as a PacketBatch (count set by the consumer). */
  readonly batch: PacketBatch;
  readonly data: Buffer;

  constructor(sab: SharedArrayBuffer, l: RingLayout) {
    let o = 0;
    const f64 = (n: number): Float64Array => {
      const a = new Float64Array(sab, o, n);
      o += n * 8;
      return a;
    };
    const u32 = (n: number): Uint32Array => {
      const a = new Uint32Array(sab, o, n);
      o += n * 4;
      return a;
    };
    const u16 = (n: number): Uint16Array => {
      const a = new Uint16Array(sab, o, n);
      o += n * 2;
      return a;
    };
    this.hdr = f64(HDR);
    this.seq = f64(l.entries);
    const tsUs = f64(l.entries);
    this.markerSeq = f64(l.markers);
    this.markerTs = f64(l.markers);
    const offset = u32(l.entries);
    const capLen = u32(l.entries);
    const wireLen = u32(l.entries);
    this.markerPos = u32(l.markers);
    const linkType = u16(l.entries);
    const ifIndex = u16(l.entries);
    o = (o + 7) & ~7;
    this.data = Buffer.from(sab, o, l.dataBytes);
    this.batch = { buf: this.data, count: 0, offset, capLen, wireLen, tsUs, linkType, ifIndex };
  }

  get count(): number {
    return this.hdr[H_COUNT]!;
  }
  get seqEnd(): number {
    return this.hdr[H_SEQ_END]!;
  }
  get batchEnd(): boolean {
    return this.hdr[H_BATCH_END] === 1;
  }
  get nowUs(): number {
    return this.hdr[H_NOW]!;
  }
  get markers(): number {
    return this.hdr[H_MARKERS]!;
  }
}

export function allocRing(layout: RingLayout = DEFAULT_RING): RingBuffers {
  const slots: SharedArrayBuffer[] = [];
  for (let i = 0; i < layout.slots; i++) slots.push(new SharedArrayBuffer(slotBytes(layout)));
  return { layout, ctrl: new SharedArrayBuffer(CTRL_WORDS * 4), slots };
}

/** The reader's side of one ring. */
export class RingProducer {
  readonly ctrl: Int32Array;
  private readonly views: SlotView[];
  private readonly l: RingLayout;
  private cur: SlotView | undefined;
  private n = 0;
  private used = 0;
  private m = 0;
  /** Milliseconds spent waiting for a free slot (the worker is behind). */
  waitMs = 0;

  constructor(r: RingBuffers) {
    this.l = r.layout;
    this.ctrl = new Int32Array(r.ctrl);
    this.views = r.slots.map((s) => new SlotView(s, r.layout));
  }

  private acquire(): SlotView {
    const c = this.ctrl;
    const head = Atomics.load(c, HEAD);
    for (;;) {
      const tail = Atomics.load(c, TAIL);
      if (head - tail < this.l.slots) break;
      const t0 = performance.now();
      Atomics.wait(c, TAIL, tail, 1000);
      this.waitMs += performance.now() - t0;
    }
    const v = this.views[head % this.l.slots]!;
    this.cur = v;
    this.n = 0;
    this.used = 0;
    this.m = 0;
    return v;
  }

  /** Copy one packet in; `seq` is its position in the whole stream. */
  push(buf: Buffer, off: number, capLen: number, wireLen: number, tsUs: number, linkType: number, ifIndex: number, seq: number): void {
    const l = this.l;
    if (capLen > l.dataBytes) capLen = l.dataBytes;
    let v = this.cur ?? this.acquire();
    if (this.n === l.entries || this.used + capLen > l.dataBytes) {
      this.publish(seq, false, v.nowUs);
      v = this.acquire();
    }
    const b = v.batch;
    const i = this.n++;
    b.offset[i] = this.used;
    b.capLen[i] = capLen;
    b.wireLen[i] = wireLen;
    b.tsUs[i] = tsUs;
    b.linkType[i] = linkType;
    b.ifIndex[i] = ifIndex;
    v.seq[i] = seq;
    buf.copy(v.data, this.used, off, off + capLen);
    this.used += capLen;
  }

  /** Expire idle flows at `tsUs`, before packet `seq` (and after the packets pushed so far). */
  marker(seq: number, tsUs: number): void {
    let v = this.cur ?? this.acquire();
    if (this.m === this.l.markers) {
      this.publish(seq, false, v.nowUs);
      v = this.acquire();
    }
    const j = this.m++;
    v.markerSeq[j] = seq;
    v.markerTs[j] = tsUs;
    v.markerPos[j] = this.n;
  }

  /**
   * Hand the current slot (possibly empty: it still carries the watermark) to the worker.
   * `seqEnd`: the stream position every packet pushed so far is before.
   */
  publish(seqEnd: number, batchEnd: boolean, nowUs: number): void {
    const v = this.cur ?? this.acquire();
    const h = v.hdr;
    h[H_COUNT] = this.n;
    h[H_SEQ_END] = seqEnd;
    h[H_BATCH_END] = batchEnd ? 1 : 0;
    h[H_NOW] = nowUs;
    h[H_MARKERS] = this.m;
    this.cur = undefined;
    Atomics.add(this.ctrl, HEAD, 1);
    Atomics.notify(this.ctrl, HEAD);
  }

  /** No more slots: the worker drains the ring and finishes. */
  close(): void {
    Atomics.store(this.ctrl, CLOSED, 1);
    Atomics.notify(this.ctrl, HEAD);
  }
}

/** The worker's side of one ring. */
export class RingConsumer {
  readonly ctrl: Int32Array;
  private readonly views: SlotView[];
  private readonly l: RingLayout;
  /** Milliseconds spent waiting for a slot (idle). */
  idleMs = 0;

  constructor(r: RingBuffers) {
    this.l = r.layout;
    this.ctrl = new Int32Array(r.ctrl);
    this.views = r.slots.map((s) => new SlotView(s, r.layout));
  }

  /** The next published slot (waiting for one), or undefined when the ring is closed and drained. */
  next(): SlotView | undefined {
    const c = this.ctrl;
    const tail = Atomics.load(c, TAIL);
    for (;;) {
      const head = Atomics.load(c, HEAD);
      if (head !== tail) return this.views[tail % this.l.slots];
      // closed after its last publish: look at the head once more before finishing
      if (Atomics.load(c, CLOSED) === 1) {
        if (Atomics.load(c, HEAD) !== tail) continue;
        return undefined;
      }
      const t0 = performance.now();
      Atomics.wait(c, HEAD, head, 1000);
      this.idleMs += performance.now() - t0;
    }
  }

  /** The slot next() returned is done: the reader may refill it. */
  release(): void {
    Atomics.add(this.ctrl, TAIL, 1);
    Atomics.notify(this.ctrl, TAIL);
  }
}
