/**
 * Per-flow TLS state over TCP: the client's first flight, reassembled in sequence order, walked
 * record by record until the ClientHello is parsed; then a short watch of the same stream for
 * a second hello (duplicate, or after HelloRetryRequest) and the first application data
 * (optional entropy), after which the flow is bypassed.
 *
 * Phases:
 *   start  nothing parsed yet; the first client bytes decide TLS / SSLv2 / plaintext
 *   scan   the stream began with plaintext (STARTTLS, SOCKS, Postgres SSLRequest, CONNECT):
 *          look for a hello record at the start of the next few client packets
 *   hello  a TLS stream: reassemble until the ClientHello is complete
 *   watch  hello parsed; walk further records for a duplicate hello and application data
 * A flow is finished (caller sets inspect = false and drops this object) on done/failure.
 *
 * Gap rule: a hello byte is missing when bytes are held beyond a hole, or when the server sends
 * payload acknowledging client bytes we never saw (the server only answers a whole hello).
 * Without a SYN, the client's first sequence number comes from the server's SYN-ACK, else
 * from its first payload segment.
 */
import type { PacketView } from '../../decode/view.js';
import type { FlowMeta } from '../../records.js';
import { toHandshake } from '../ja4.js';
import { TLS_REASONS as R, type DissectCounter, type TlsReason } from '../reasons.js';
import { shannonEntropy } from './entropy.js';
import { parseClientHello } from './parse.js';
import type { ClientHello, HelloParse } from './parse.js';
import { SegmentAssembler, seqDiff } from './reassembly.js';
import {
  CT_APPLICATION_DATA,
  CT_CHANGE_CIPHER_SPEC,
  CT_HANDSHAKE,
  MAX_CIPHERTEXT,
  RECORD_HEADER_LEN,
  gatherHandshake,
  isRecordHeader,
  looksLikeHelloRecord,
  newGathered,
  recordLen,
} from './records.js';
import { looksLikeSsl2Hello, parseSsl2Hello, ssl2RecordLen } from './ssl2.js';

export interface TlsOptions {
  maxHelloBytes: number;
  maxSegments: number;
  maxInspectPackets: number;
  payloadEntropy: boolean;
}

export interface TlsDeps {
  count(reason: DissectCounter): void;
}

/** Client packets after a plaintext start in which a hello may still begin. */
export const SCAN_PACKETS = 4;
/**
 * Server payload packets allowed before the client's hello starts: a server-first protocol
 * (SMTP banner, then STARTTLS) needs a few; a flow seen from its middle (no SYN) or a bulk
 * download whose handshake predates the capture would otherwise keep every server packet in
 * the dissector (measured: 117k of the 1.78M benchmark packets, ~40 % of dissect time).
 */
export const SERVER_PKTS_BEFORE_HELLO = 16;
export const SERVER_PKTS_MIDFLOW = 4;
/** Bytes of the first application data that go into the entropy. */
export const ENTROPY_BYTES = 1024;

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;

type Phase = 'start' | 'scan' | 'hello' | 'watch';
/** Outcome of a walk over available stream bytes. */
type Walk = 'more' | 'finished' | 'scan';

const gathered = newGathered();

export class TlsFlowState {
  private phase: Phase = 'start';
  private baseKnown = false;
  /** Sequence number of stream offset 0 (the next unconsumed client byte). */
  private base = 0;
  private asm: SegmentAssembler | null = null;
  private clientPkts = 0;
  private scanLeft = SCAN_PACKETS;
  private helloPkts = 0;
  private sawCcs = false;
  private first: ClientHello | null = null;
  private serverPkts = 0;

  constructor(
    private readonly opts: TlsOptions,
    private readonly deps: TlsDeps,
  ) {}

  /** The client's SYN was seen before this state was made: its stream starts at `base` (the SYN's sequence number + 1). */
  startAt(base: number): void {
    this.base = base;
    this.baseKnown = true;
  }

  /** Handle one packet of the flow; returns true when the flow is finished for TLS. */
  onPacket(view: PacketView, meta: FlowMeta): boolean {
    const flags = view.tcpFlags;
    if (!view.fromOrig) return this.onServer(view, meta, flags);
    if ((flags & TCP_SYN) !== 0) {
      this.base = (view.tcpSeq + 1) >>> 0;
      this.baseKnown = true;
    }
    if (view.payloadLen > 0) {
      const seq = (flags & TCP_SYN) !== 0 ? (view.tcpSeq + 1) >>> 0 : view.tcpSeq;
      if (this.onClientData(view.buf, view.payloadOff, view.payloadLen, seq, meta)) return true;
    }
    if ((flags & (TCP_FIN | TCP_RST)) !== 0) {
      this.end(meta);
      return true;
    }
    return false;
  }

  /** The flow ended while still inspected: count what was left unfinished. */
  end(_meta: FlowMeta): void {
    if (this.phase === 'scan') {
      this.deps.count(R.notTls);
    } else if (this.asm !== null && this.asm.hasHole()) {
      this.deps.count(R.gap);
    } else if (this.phase === 'hello') {
      // A hello record had begun. (A few bytes without a record start, e.g. a 1-byte TCP
      // keep-alive of a flow seen mid-stream, say nothing and are not counted.)
      this.deps.count(R.helloIncomplete);
    }
    this.release();
  }

  release(): void {
    if (this.asm !== null) this.asm.free();
    this.asm = null;
  }

  private onServer(view: PacketView, meta: FlowMeta, flags: number): boolean {
    if ((flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) {
      if (!this.baseKnown) {
        this.base = view.tcpAck >>> 0;
        this.baseKnown = true;
      }
      return false;
    }
    if (view.payloadLen > 0 && this.first === null && (this.phase === 'start' || this.phase === 'scan') && (this.asm === null || this.asm.isEmpty())) {
      if (++this.serverPkts > (this.baseKnown ? SERVER_PKTS_BEFORE_HELLO : SERVER_PKTS_MIDFLOW)) {
        this.deps.count(R.noHelloSeen);
        this.release();
        meta.inspect = false;
        return true;
      }
    }
    if (view.payloadLen === 0 || (flags & TCP_ACK) === 0 || !this.baseKnown) return false;
    if (this.phase !== 'hello' && this.phase !== 'start') return false;
    const held = this.asm === null ? 0 : this.asm.contiguous();
    const hole = this.asm !== null && this.asm.hasHole();
    if (hole || seqDiff(view.tcpAck, this.base) > held) {
      this.deps.count(R.gap);
      this.release();
      meta.inspect = false;
      return true;
    }
    return false;
  }

  private onClientData(buf: Buffer, off: number, len: number, seq: number, meta: FlowMeta): boolean {
    this.clientPkts++;
    if (this.clientPkts > this.opts.maxInspectPackets) {
      if (this.phase === 'watch') return true;
      this.end(meta);
      return true;
    }
    if (this.phase === 'scan') {
      if (!looksLikeHelloRecord(buf, off, len)) {
        if (--this.scanLeft <= 0) {
          this.deps.count(R.notTls);
          return true;
        }
        return false;
      }
      this.deps.count(R.afterPlaintext);
      this.phase = 'hello';
      this.helloPkts = 0;
      this.base = seq;
      this.baseKnown = true;
      this.release();
    }
    if (!this.baseKnown) {
      this.base = seq;
      this.baseKnown = true;
    }
    if (this.phase === 'hello' || this.phase === 'start') this.helloPkts++;
    const rel = seqDiff(seq, this.base);

    // Fast path: in order, nothing held: walk the packet in place.
    if (rel === 0 && (this.asm === null || this.asm.isEmpty())) {
      const r = this.walk(buf, off, off + len, meta);
      if (r.walk !== 'more') return this.after(r.walk);
      const used = r.consumed;
      this.base = (this.base + used) >>> 0;
      if (used < len) {
        const asm = this.assembler();
        const res = asm.add(buf, off + used, len - used, 0);
        if (res !== 'ok') return this.limit(res, meta);
      }
      return false;
    }
    const asm = this.assembler();
    const res = asm.add(buf, off, len, rel);
    if (res === 'dup' || res === 'before_base') {
      this.deps.count(R.retransmit);
      return false;
    }
    if (res === 'too_many_pieces') return this.limit(res, meta);
    const avail = asm.contiguous();
    if (avail === 0) return res === 'beyond_cap' ? this.limit(res, meta) : false;
    const r = this.walk(asm.buf, 0, avail, meta);
    if (r.walk !== 'more') return this.after(r.walk);
    asm.consume(r.consumed);
    this.base = (this.base + r.consumed) >>> 0;
    if (res === 'beyond_cap') return this.limit(res, meta);
    return false;
  }

  private after(w: Walk): boolean {
    if (w === 'scan') {
      this.phase = 'scan';
      this.release();
      return false;
    }
    this.release();
    return true;
  }

  private limit(res: string, meta: FlowMeta): boolean {
    if (this.phase !== 'watch') {
      this.deps.count(res === 'too_many_pieces' ? R.tooManySegments : R.helloTooLarge);
    }
    this.release();
    meta.inspect = false;
    return true;
  }

  private assembler(): SegmentAssembler {
    if (this.asm === null) this.asm = new SegmentAssembler(this.opts.maxHelloBytes, this.opts.maxSegments);
    return this.asm;
  }

  private readonly walkOut = { walk: 'more' as Walk, consumed: 0 };

  /** Walk records in `[off, end)` (a record boundary at `off`). */
  private walk(buf: Buffer, off: number, end: number, meta: FlowMeta): { walk: Walk; consumed: number } {
    const out = this.walkOut;
    let p = off;
    out.consumed = 0;
    for (;;) {
      out.consumed = p - off;
      const avail = end - p;
      if (this.phase === 'start') {
        // Record header plus the handshake type byte decide what the stream is.
        if (avail < RECORD_HEADER_LEN + 1) {
          out.walk = 'more';
          return out;
        }
        if (looksLikeSsl2Hello(buf, p, avail)) {
          const need = ssl2RecordLen(buf, p);
          if (need > avail) {
            out.walk = 'more';
            return out;
          }
          this.deps.count(R.sslv2Hello);
          this.onHello(parseSsl2Hello(buf, p, need), meta);
          out.walk = 'finished';
          return out;
        }
        if (!looksLikeHelloRecord(buf, p, avail)) {
          out.walk = isRecordHeader(buf, p, avail) && buf[p] === CT_HANDSHAKE ? this.fail(R.notClientHello) : 'scan';
          return out;
        }
        this.phase = 'hello';
      }
      if (avail < RECORD_HEADER_LEN) {
        out.walk = 'more';
        return out;
      }
      if (!isRecordHeader(buf, p, avail)) {
        out.walk = this.phase === 'watch' ? 'finished' : this.fail('tls.hello_malformed');
        return out;
      }
      const type = buf[p] ?? 0;
      const rlen = recordLen(buf, p);
      if (rlen > MAX_CIPHERTEXT) {
        out.walk = this.phase === 'watch' ? 'finished' : this.fail(R.recordTooLarge);
        return out;
      }
      if (type === CT_APPLICATION_DATA) {
        if (this.phase === 'watch' && this.opts.payloadEntropy) {
          const s = p + RECORD_HEADER_LEN;
          const e = Math.min(end, s + rlen, s + ENTROPY_BYTES);
          if (e > s) meta.payloadEntropy = shannonEntropy(buf, s, e);
        }
        out.walk = this.phase === 'watch' ? 'finished' : this.fail(R.notClientHello);
        return out;
      }
      // A record passed over whole: a ChangeCipherSpec, or (watching) a handshake record
      // that does not start a ClientHello.
      let skip = false;
      if (type !== CT_HANDSHAKE) {
        if (this.phase !== 'watch') {
          out.walk = this.fail(R.notClientHello);
          return out;
        }
        if (type !== CT_CHANGE_CIPHER_SPEC) {
          out.walk = 'finished'; // alert: nothing more to learn
          return out;
        }
        this.sawCcs = true;
        skip = true;
      } else if (this.phase === 'watch' && !(avail >= 6 && buf[p + 5] === 1)) {
        if (this.sawCcs && this.first !== null && this.first.supportedVersions.length === 0) {
          out.walk = 'finished'; // TLS 1.2 after CCS: encrypted Finished, nothing to learn
          return out;
        }
        skip = true;
      }
      if (skip) {
        if (RECORD_HEADER_LEN + rlen > avail) {
          out.walk = 'more';
          return out;
        }
        p += RECORD_HEADER_LEN + rlen;
        continue;
      }
      // Handshake record.
      const g = gatherHandshake(buf, p, end, this.opts.maxHelloBytes, gathered);
      if (g.reason !== null) {
        out.walk = this.phase === 'watch' ? 'finished' : this.fail(g.reason);
        return out;
      }
      if (g.need > 0 || g.buf === null) {
        out.walk = 'more';
        return out;
      }
      const parsed = parseClientHello(g.buf, g.msgOff, g.msgLen);
      if (this.phase === 'hello' && g.records > 1) this.deps.count(R.helloMultiRecord);
      if (!parsed.ok && this.phase === 'watch') {
        // After CCS a handshake record may be encrypted (TLS 1.3 Finished): not a hello.
        if (!this.sawCcs) this.deps.count(parsed.reason);
        out.walk = 'finished';
        return out;
      }
      if (!this.onHello(parsed, meta)) {
        out.walk = 'finished';
        return out;
      }
      p += g.consumed;
    }
  }

  private fail(reason: TlsReason): Walk {
    this.deps.count(reason);
    return 'finished';
  }

  /** Record a parsed hello; returns false when the flow is finished. */
  private onHello(parsed: HelloParse, meta: FlowMeta): boolean {
    if (!parsed.ok) {
      this.deps.count(parsed.reason);
      return false;
    }
    const hello = parsed.hello;
    if (hello.malformed !== undefined) this.deps.count(hello.malformed);
    if (this.first === null) {
      this.first = hello;
      this.deps.count(R.helloParsed);
      if (this.helloPkts > 1) this.deps.count(R.helloMultiSegment);
      meta.handshake = toHandshake(hello, 'tls');
      this.phase = 'watch';
      return true;
    }
    this.deps.count(R.helloDuplicate);
    const hs = meta.handshake;
    if (hs !== undefined) {
      hs.hellos++;
      const names = hs.sniAll ?? (hs.sni !== undefined ? [hs.sni] : []);
      for (const n of hello.sniAll) if (!names.includes(n)) names.push(n);
      if (names.length > 1) hs.sniAll = names;
    }
    return true;
  }
}
