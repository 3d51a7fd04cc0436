/**
 * A single-producer single-consumer ring of packet batches in shared memory. The packet bytes
 * are not in the ring: the reader copies whole stretches of the capture file into shared chunks
 * (one copy per stretch of thousands of packets, `ChunkBuffers`, shared by every ring) and puts
 * each packet's descriptor (chunk offset, lengths, time, link type, interface, stream sequence
 * number) into the current slot of its worker's ring; a slot refers to one chunk. The worker
 * processes a slot in place and frees it; a chunk is reused once every slot that refers to it
 * was freed (a count per chunk). No message and no lock per packet: one atomic store and one
 * notify per slot (thousands of packets), Atomics.wait only when a ring is empty (worker) or
 * full, or no chunk is free (reader).
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
  /** Expiry markers per slot. */
  markers: number;
}

export const DEFAULT_RING: RingLayout = { slots: 4, entries: 4096, markers: 64 };

/**
 * The shared chunks packet bytes are read into (one set for all rings): `refs[c]` counts the
 * published, not yet freed slots that refer to chunk c.
 */
export interface ChunkBuffers {
  /** Bytes per chunk (a packet larger than this is cut to it). */
  bytes: number;
  bufs: SharedArrayBuffer[];
  refs: SharedArrayBuffer;
}

export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;

/** `count` chunks (at least 2: the reader fills one while the workers read the others). */
export function allocChunks(count: number, bytes: number = DEFAULT_CHUNK_BYTES): ChunkBuffers {
  const n = Math.max(2, count);
  return { bytes, bufs: Array.from({ length: n }, () => new SharedArrayBuffer(bytes)), refs: new SharedArrayBuffer(n * 4) };
}

/** The shared memory of one ring (sent to the worker in its workerData). */
export interface RingBuffers {
  layout: RingLayout;
  ctrl: SharedArrayBuffer;
  slots: SharedArrayBuffer[];
  chunks: ChunkBuffers;
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
const H_CHUNK = 5;
const HDR = 8;

function slotBytes(l: RingLayout): number {
  const f64 = (HDR + 2 * l.entries + 2 * l.markers) * 8;
  const u32 = (3 * l.entries + l.markers) * 4;
  const u16 = 2 * l.entries * 2;
  return f64 + u32 + u16;
}

/** Typed views over one slot. */
export class SlotView {
  readonly hdr: Float64Array;
  readonly seq: Float64Array;
  readonly markerSeq: Float64Array;
  readonly markerTs: Float64Array;
  readonly markerPos: Uint32Array;
  /** The slot as a PacketBatch (count and buf, its chunk, set by the consumer). */
  readonly batch: PacketBatch;

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
    this.batch = { buf: Buffer.alloc(0), count: 0, offset, capLen, wireLen, tsUs, linkType, ifIndex };
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
  /** The chunk the slot's packets are in. */
  get chunk(): number {
    return this.hdr[H_CHUNK]!;
  }
}

export function allocRing(layout: RingLayout, chunks: ChunkBuffers): RingBuffers {
  const slots: SharedArrayBuffer[] = [];
  for (let i = 0; i < layout.slots; i++) slots.push(new SharedArrayBuffer(slotBytes(layout)));
  return { layout, ctrl: new SharedArrayBuffer(CTRL_WORDS * 4), slots, chunks };
}

/**
 * The ring's oldest slot `s` is freed (`ctrl`: its control words, `refs`: the chunks' reference
 * counts): its chunk may be reused once no other slot refers to it, and the reader may refill it.
 */
export function releaseSlot(ctrl: Int32Array, refs: Int32Array, s: SlotView): void {
  if (s.count > 0) {
    Atomics.sub(refs, s.chunk, 1);
    Atomics.notify(refs, s.chunk);
  }
  Atomics.add(ctrl, TAIL, 1);
  Atomics.notify(ctrl, TAIL);
}

/**
 * The reader's side of the chunks: copies stretches of packet bytes in, one chunk after the
 * other, waiting for the next one to be free.
 */
export class ChunkWriter {
  readonly bufs: Buffer[];
  readonly bytes: number;
  private readonly refs: Int32Array;
  /** The chunk being filled, and how much of it is used. */
  cur = 0;
  used = 0;
  /** Milliseconds spent waiting for a free chunk. */
  waitMs = 0;

  constructor(c: ChunkBuffers) {
    this.bufs = c.bufs.map((b) => Buffer.from(b));
    this.bytes = c.bytes;
    this.refs = new Int32Array(c.refs);
  }

  /** Move on to the next chunk (every slot referring to the current one must be published). */
  next(): void {
    const c = (this.cur + 1) % this.bufs.length;
    for (;;) {
      const v = Atomics.load(this.refs, c);
      if (v === 0) break;
      const t0 = performance.now();
      Atomics.wait(this.refs, c, v, 1000);
      this.waitMs += performance.now() - t0;
    }
    this.cur = c;
    this.used = 0;
  }
}

/** The reader's side of one ring. */
export class RingProducer {
  readonly ctrl: Int32Array;
  private readonly views: SlotView[];
  private readonly l: RingLayout;
  private cur: SlotView | undefined;
  private n = 0;
  private chunk = -1;
  private m = 0;
  private readonly refs: Int32Array;
  /** Milliseconds spent waiting for a free slot (the worker is behind). */
  waitMs = 0;

  constructor(r: RingBuffers) {
    this.l = r.layout;
    this.ctrl = new Int32Array(r.ctrl);
    this.views = r.slots.map((s) => new SlotView(s, r.layout));
    this.refs = new Int32Array(r.chunks.refs);
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
    this.chunk = -1;
    this.m = 0;
    return v;
  }

  /**
   * One packet, at `off` in chunk `chunk` (already copied there; a slot refers to one chunk);
   * `seq` is its position in the whole stream.
   */
  push(chunk: number, off: number, capLen: number, wireLen: number, tsUs: number, linkType: number, ifIndex: number, seq: number): void {
    let v = this.cur ?? this.acquire();
    if (this.n === this.l.entries || (this.n > 0 && chunk !== this.chunk)) {
      this.publish(seq, false, v.nowUs);
      v = this.acquire();
    }
    this.chunk = chunk;
    const b = v.batch;
    const i = this.n++;
    b.offset[i] = off;
    b.capLen[i] = capLen;
    b.wireLen[i] = wireLen;
    b.tsUs[i] = tsUs;
    b.linkType[i] = linkType;
    b.ifIndex[i] = ifIndex;
    v.seq[i] = seq;
  }

  /** Publish the current slot if it holds packets (before the reader moves to another chunk). */
  flush(seqEnd: number, nowUs: number): void {
    if (this.cur !== undefined && this.n > 0) this.publish(seqEnd, false, nowUs);
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
    h[H_CHUNK] = this.chunk < 0 ? 0 : this.chunk;
    if (this.n > 0) Atomics.add(this.refs, this.chunk, 1);
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
  private readonly refs: Int32Array;
  private readonly chunkBufs: Buffer[];
  /** Milliseconds spent waiting for a slot (idle). */
  idleMs = 0;

  constructor(r: RingBuffers) {
    this.l = r.layout;
    this.ctrl = new Int32Array(r.ctrl);
    this.views = r.slots.map((s) => new SlotView(s, r.layout));
    this.refs = new Int32Array(r.chunks.refs);
    this.chunkBufs = r.chunks.bufs.map((b) => Buffer.from(b));
  }

  /** The next published slot (waiting for one), or undefined when the ring is closed and drained. */
  next(): SlotView | undefined {
    const c = this.ctrl;
    const tail = Atomics.load(c, TAIL);
    for (;;) {
      const head = Atomics.load(c, HEAD);
      if (head !== tail) {
        const v = this.views[tail % this.l.slots]!;
        if (v.count > 0) v.batch.buf = this.chunkBufs[v.chunk]!;
        return v;
      }
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
    releaseSlot(this.ctrl, this.refs, this.views[Atomics.load(this.ctrl, TAIL) % this.l.slots]!);
  }
}
