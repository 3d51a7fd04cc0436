/**
 * DNS over TCP (RFC 1035 §4.2.2, RFC 7766 §8): each message is preceded by a two-byte length.
 * Several messages may share a segment and one message may span segments. Per direction, the
 * stream is reassembled in sequence order: retransmitted or overlapping bytes are trimmed, a few
 * out-of-order segments are held, and the buffer never exceeds one maximal message (2 + 65535).
 */
import type { DnsReason } from './reasons.js';

export const MAX_TCP_MESSAGE = 2 + 65535;
/** Out-of-order segments held per direction before the stream is resynchronised. */
export const MAX_PENDING = 8;

interface Pending {
  seq: number;
  data: Buffer;
}

/** 32-bit sequence difference a − b, wrap-aware (RFC 9293 §3.4). */
function seqDiff(a: number, b: number): number {
  return ((a - b) | 0);
}

export class TcpDnsStream {
  private nextSeq = 0;
  private started = false;
  private buf: Buffer = Buffer.alloc(0);
  private len = 0;
  private pending: Pending[] = [];

  /** The first byte's sequence number, when known from the SYN. */
  start(seq: number): void {
    if (this.started) return;
    this.started = true;
    this.nextSeq = seq >>> 0;
  }

  /**
   * Add a segment; `onMessage(msg)` gets each complete message (a slice valid during the call).
   * Returns a reason when data had to be dropped.
   */
  push(seq: number, src: Buffer, start: number, end: number, onMessage: (msg: Buffer) => void): DnsReason | undefined {
    if (end <= start) return undefined;
    if (!this.started) {
      this.started = true;
      this.nextSeq = seq >>> 0;
    }
    let reason: DnsReason | undefined;
    const d = seqDiff(seq >>> 0, this.nextSeq);
    if (d > 0) {
      this.pending.push({ seq: seq >>> 0, data: Buffer.from(src.subarray(start, end)) });
      if (this.pending.length <= MAX_PENDING) return undefined;
      // Give up on the hole: drop the partial message, resynchronise at the oldest held segment.
      reason = 'dns.tcp_reorder_overflow';
      this.pending.sort((a, b) => seqDiff(a.seq, b.seq));
      this.len = 0;
      const first = this.pending[0];
      if (first !== undefined) this.nextSeq = first.seq;
    } else {
      this.append(src, start - d, end);
    }
    this.drainPending();
    this.emit(onMessage);
    return reason;
  }

  /** Bytes held that never formed a complete message (checked at flow end). */
  incomplete(): boolean {
    return this.len > 0 || this.pending.length > 0;
  }

  private append(src: Buffer, start: number, end: number): void {
    if (end <= start) return;
    const n = end - start;
    if (this.len + n > this.buf.length) {
      const grown = Buffer.alloc(Math.min(MAX_TCP_MESSAGE * 2, Math.max(this.len + n, this.buf.length * 2, 512)));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    const take = Math.min(n, this.buf.length - this.len);
    src.copy(this.buf, this.len, start, start + take);
    this.len += take;
    this.nextSeq = (this.nextSeq + n) >>> 0;
  }

  private drainPending(): void {
    let progressed = true;
    while (progressed && this.pending.length > 0) {
      progressed = false;
      for (let i = 0; i < this.pending.length; i++) {
        const p = this.pending[i];
        if (p === undefined) continue;
        const d = seqDiff(p.seq, this.nextSeq);
        if (d > 0) continue;
        this.pending.splice(i, 1);
        if (d + p.data.length > 0) this.append(p.data, -d, p.data.length);
        progressed = true;
        break;
      }
    }
  }

  private emit(onMessage: (msg: Buffer) => void): void {
    let off = 0;
    while (this.len - off >= 2) {
      const mlen = this.buf.readUInt16BE(off);
      if (this.len - off < 2 + mlen) break;
      if (mlen > 0) onMessage(this.buf.subarray(off + 2, off + 2 + mlen));
      off += 2 + mlen;
    }
    if (off > 0) {
      this.buf.copy(this.buf, 0, off, this.len);
      this.len -= off;
    }
  }
}

/** Per-flow DNS state: TCP streams per direction and the message budget. */
export class DnsFlowState {
  origStream: TcpDnsStream | undefined = undefined;
  respStream: TcpDnsStream | undefined = undefined;
  messages = 0;

  stream(fromOrig: boolean): TcpDnsStream {
    if (fromOrig) return (this.origStream ??= new TcpDnsStream());
    return (this.respStream ??= new TcpDnsStream());
  }
}
