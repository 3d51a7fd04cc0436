/**
 * Bounded reassembly of one TCP direction's first bytes, in sequence order (RFC 9293 §3.4:
 * sequence numbers are modulo 2^32). Segments may arrive out of order, be retransmitted or
 * overlap; each is copied to its place in one buffer and the covered ranges are tracked.
 * Overlaps keep the bytes already held (first copy wins, as the receiver acknowledged them).
 * Bounded by `cap` bytes and `maxPieces` disjoint ranges; never throws.
 */

/** Signed distance a - b in sequence space. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export type AddResult = 'ok' | 'dup' | 'beyond_cap' | 'too_many_pieces' | 'before_base';

export class SegmentAssembler {
  private data: Buffer | null = null;
  /** Disjoint, sorted, merged ranges [s0, e0, s1, e1, ...] relative to offset 0. */
  private ranges: number[] = [];
  /** Bytes offered past the cap (data we could not keep). */
  overflow = false;

  constructor(
    private readonly cap: number,
    private readonly maxPieces: number,
  ) {}

  /** Held bytes; valid up to `contiguous()`. */
  get buf(): Buffer {
    return this.data ?? EMPTY;
  }

  /** Length of the gap-free prefix starting at offset 0. */
  contiguous(): number {
    return this.ranges[0] === 0 ? (this.ranges[1] ?? 0) : 0;
  }

  /** Highest offset held (0 when empty). */
  highest(): number {
    return this.ranges.length === 0 ? 0 : (this.ranges[this.ranges.length - 1] ?? 0);
  }

  /** Bytes held beyond a hole. */
  hasHole(): boolean {
    return this.ranges.length > 2 || (this.ranges.length === 2 && this.ranges[0] !== 0);
  }

  isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  /** Copy `len` bytes of `src` at `srcOff` to relative offset `rel`. */
  add(src: Buffer, srcOff: number, len: number, rel: number): AddResult {
    let s = rel;
    let from = srcOff;
    let n = len;
    if (s < 0) {
      if (s + n <= 0) return 'before_base';
      from -= s;
      n += s;
      s = 0;
    }
    let result: AddResult = 'ok';
    if (s + n > this.cap) {
      this.overflow = true;
      result = 'beyond_cap';
      n = this.cap - s;
      if (n <= 0) return result;
    }
    const e = s + n;
    if (this.covers(s, e)) return 'dup';
    if (this.pieceCountAfter(s, e) > this.maxPieces) return 'too_many_pieces';
    this.ensure(e);
    const dst = this.data;
    if (dst === null) return result;
    // Copy only the parts not yet held (first copy wins).
    let cur = s;
    for (let i = 0; i < this.ranges.length && cur < e; i += 2) {
      const rs = this.ranges[i] ?? 0;
      const re = this.ranges[i + 1] ?? 0;
      if (re <= cur) continue;
      if (rs >= e) break;
      if (rs > cur) src.copy(dst, cur, from + (cur - s), from + (rs - s));
      cur = Math.max(cur, re);
    }
    if (cur < e) src.copy(dst, cur, from + (cur - s), from + n);
    this.insert(s, e);
    return result;
  }

  /** Drop the first `n` contiguous bytes; later offsets shift down by `n`. */
  consume(n: number): void {
    if (n <= 0) return;
    const d = this.data;
    if (d !== null) d.copyWithin(0, n, Math.max(n, this.highest()));
    const next: number[] = [];
    for (let i = 0; i < this.ranges.length; i += 2) {
      const rs = (this.ranges[i] ?? 0) - n;
      const re = (this.ranges[i + 1] ?? 0) - n;
      if (re <= 0) continue;
      next.push(Math.max(0, rs), re);
    }
    this.ranges = next;
  }

  /** Release the buffer (zeroed into the shared pool when it has the first size). */
  free(): void {
    const d = this.data;
    if (d !== null && d.length === FIRST_SIZE && pool.length < POOL_MAX) {
      d.fill(0);
      pool.push(d);
    }
    this.data = null;
    this.ranges = [];
  }

  private covers(s: number, e: number): boolean {
    for (let i = 0; i < this.ranges.length; i += 2) {
      if ((this.ranges[i] ?? 0) <= s && (this.ranges[i + 1] ?? 0) >= e) return true;
    }
    return false;
  }

  private pieceCountAfter(s: number, e: number): number {
    let touching = 0;
    for (let i = 0; i < this.ranges.length; i += 2) {
      if ((this.ranges[i] ?? 0) <= e && (this.ranges[i + 1] ?? 0) >= s) touching++;
    }
    return this.ranges.length / 2 - touching + 1;
  }

  private insert(s: number, e: number): void {
    const next: number[] = [];
    let ns = s;
    let ne = e;
    let placed = false;
    for (let i = 0; i < this.ranges.length; i += 2) {
      const rs = this.ranges[i] ?? 0;
      const re = this.ranges[i + 1] ?? 0;
      if (re < ns) {
        next.push(rs, re);
      } else if (rs > ne) {
        if (!placed) {
          next.push(ns, ne);
          placed = true;
        }
        next.push(rs, re);
      } else {
        ns = Math.min(ns, rs);
        ne = Math.max(ne, re);
      }
    }
    if (!placed) next.push(ns, ne);
    this.ranges = next;
  }

  private ensure(end: number): void {
    const have = this.data === null ? 0 : this.data.length;
    if (end <= have) return;
    let size = Math.max(FIRST_SIZE, have);
    while (size < end) size *= 2;
    size = Math.min(size, this.cap);
    const next = size === FIRST_SIZE && pool.length > 0 ? (pool.pop() as Buffer) : Buffer.alloc(size);
    if (this.data !== null) this.data.copy(next, 0, 0, have);
    this.data = next;
  }
}

const EMPTY = Buffer.alloc(0);
/** First buffer size: a post-quantum Chromium hello (~1.9–2 KB) in its two segments fits. */
const FIRST_SIZE = 2048;
/**
 * Released first-size buffers, reused by the next assembler: nearly half of all hellos arrive
 * split, and a fresh zeroed buffer per split hello (allocation plus its collection) cost about
 * as much as parsing the hello. Few flows are mid-hello at once, so a small pool suffices.
 * Buffers are zeroed on release: no flow's bytes outlive its reassembly.
 */
const POOL_MAX = 64;
const pool: Buffer[] = [];
