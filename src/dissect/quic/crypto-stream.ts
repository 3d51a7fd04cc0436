/**
 * Reassembly of the Initial CRYPTO stream by offset (RFC 9000 §19.6): frames may arrive in any
 * order, split across frames, Initial packets and datagrams, and may overlap or repeat.
 * Bounded by `max` bytes of stream; the buffer grows as data arrives.
 */
export type AddResult = 'ok' | 'too_long' | 'conflict';

export class CryptoStream {
  private buf: Buffer = Buffer.alloc(0);
  /** Disjoint, sorted [start, end) ranges received. */
  private ranges: number[] = [];

  constructor(private readonly max: number) {}

  /** Bytes received from offset 0 without a hole. */
  contiguous(): number {
    return this.ranges.length >= 2 && this.ranges[0] === 0 ? (this.ranges[1] ?? 0) : 0;
  }

  /** True when something was received but offset 0.. is not contiguous up to the highest byte. */
  hasGap(): boolean {
    return this.ranges.length > 2 || (this.ranges.length === 2 && this.ranges[0] !== 0);
  }

  empty(): boolean {
    return this.ranges.length === 0;
  }

  /** Highest stream offset received + 1. */
  highest(): number {
    return this.ranges.length === 0 ? 0 : (this.ranges[this.ranges.length - 1] ?? 0);
  }

  view(): Buffer {
    return this.buf;
  }

  add(offset: number, src: Buffer, start: number, end: number): AddResult {
    const len = end - start;
    if (len <= 0) return 'ok';
    if (offset + len > this.max) return 'too_long';
    const stop = offset + len;
    if (stop > this.buf.length) {
      const grown = Buffer.alloc(Math.min(this.max, Math.max(stop, this.buf.length * 2, 2048)));
      this.buf.copy(grown, 0);
      this.buf = grown;
    }
    src.copy(this.buf, offset, start, end);
    this.merge(offset, stop);
    return 'ok';
  }

  private merge(s: number, e: number): void {
    const r = this.ranges;
    const out: number[] = [];
    let i = 0;
    while (i < r.length && (r[i + 1] ?? 0) < s) {
      out.push(r[i] ?? 0, r[i + 1] ?? 0);
      i += 2;
    }
    let ns = s;
    let ne = e;
    while (i < r.length && (r[i] ?? 0) <= ne) {
      ns = Math.min(ns, r[i] ?? 0);
      ne = Math.max(ne, r[i + 1] ?? 0);
      i += 2;
    }
    out.push(ns, ne);
    while (i < r.length) {
      out.push(r[i] ?? 0, r[i + 1] ?? 0);
      i += 2;
    }
    this.ranges = out;
  }
}
