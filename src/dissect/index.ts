/**
 * The dissect stage's router: the pipeline hands it every packet of a flow that carries
 * transport payload (or a TCP SYN/FIN/RST) while `meta.inspect` is true. It picks the
 * dissector by transport and content, never by port alone for TLS:
 *
 *   TCP, port 53 on either side        → DNS over TCP
 *   other TCP                          → TLS ClientHello by content (any port)
 *   UDP, port 53 / 5353 / 5355         → DNS / mDNS / LLMNR
 *   other UDP with a QUIC long header  → QUIC Initial
 *   anything else                      → bypass (`inspect = false`)
 *
 * Handshake-then-bypass: a dissector finishing a flow sets `inspect = false` and drops
 * `meta.dissectState`; from then on the flow costs only flow-table counters. One try/catch at
 * this stage boundary turns anything that escapes into a counted `dissect.internal_error` and
 * a bypassed flow, never a crash.
 */
import { schemaDefaults, type SensorConfig } from '../config.js';
import { TCP_FIN, TCP_RST, TCP_SYN, type PacketView } from '../decode/view.js';
import type { DnsAnswer, FlowMeta } from '../records.js';
import { DnsDissector } from './dns/index.js';
import { QuicDissector } from './quic/index.js';
import { DISSECT_REASONS as D, TLS_REASONS as R, type DissectCounter } from './reasons.js';
import { TlsFlowState } from './tls/state.js';

export interface DissectOptions {
  /** Largest ClientHello (and first client flight) reassembled per flow, bytes. */
  maxHelloBytes: number;
  /** Most disjoint out-of-order pieces held per flow before giving up. */
  maxSegments: number;
  /** Client payload packets inspected per flow before the flow is bypassed. */
  maxInspectPackets: number;
  /** Opt-in: Shannon entropy of the first client application data (one number, no bytes). */
  payloadEntropy: boolean;
}

/**
 * The dissectors' options from the config's `dissect` section; the payload-entropy opt-in is
 * per tenant (`tenants[].payload_entropy`): on when any tenant asks for it.
 */
export function dissectOptionsFrom(c: SensorConfig['dissect'], payloadEntropy: boolean): DissectOptions {
  // A post-quantum Chromium hello is ~1.9–2 KB; the largest public one (nDPI's huge-ch) 11 KB.
  return { maxHelloBytes: c.max_hello_bytes, maxSegments: c.max_segments, maxInspectPackets: c.max_inspect_packets, payloadEntropy };
}

/** The product's defaults: the config schema's, entropy off. */
export const defaultDissectOptions: DissectOptions = dissectOptionsFrom(schemaDefaults('dissect'), false);

/** The shape both sub-dissectors share (DNS and QUIC are built the same way). */
export interface SubDissector {
  onPacket(view: PacketView, meta: FlowMeta): void;
  onFlowEnd(meta: FlowMeta): void;
}

export interface DissectDeps {
  onDns: (a: DnsAnswer) => void;
  /**
   * Replaces the DNS dissector (default: `DnsDissector` from `./dns/index.ts`); for tests.
   */
  makeDns?: (deps: { onDns: (a: DnsAnswer) => void; count(reason: DissectCounter): void }) => SubDissector;
}

const PROTO_TCP = 6;
const PROTO_UDP = 17;

function isDnsUdpPort(p: number): boolean {
  return p === 53 || p === 5353 || p === 5355;
}

/** The router's rule for a DNS flow: TCP port 53, or UDP 53 / 5353 / 5355, on either side. */
export function isDnsFlow(meta: Pick<FlowMeta, 'proto' | 'origPort' | 'respPort'>): boolean {
  if (meta.proto === PROTO_TCP) return meta.respPort === 53 || meta.origPort === 53;
  return isDnsUdpPort(meta.respPort) || isDnsUdpPort(meta.origPort);
}

export class Dissector {
  private readonly counts = new Map<DissectCounter, number>();
  private readonly count = (reason: DissectCounter): void => {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  };
  private readonly tlsDeps = { count: this.count };
  private readonly quic: SubDissector;
  private readonly dns: SubDissector;
  private readonly opts: DissectOptions;

  constructor(opts: DissectOptions, deps: DissectDeps) {
    this.opts = { ...opts };
    this.quic = new QuicDissector({ maxCryptoBytes: Math.max(opts.maxHelloBytes, 64 * 1024) }, { count: this.count });
    const dnsDeps = { onDns: deps.onDns, count: this.count };
    this.dns = deps.makeDns !== undefined ? deps.makeDns(dnsDeps) : new DnsDissector(dnsDeps);
  }

  /**
   * Switch the payload-entropy opt-in (config reload): flows still in their handshake phase
   * and new flows follow it. Whether a flow keeps its entropy is decided per tenant by the
   * wiring (src/pipeline.ts); this only says whether it is computed at all.
   */
  setPayloadEntropy(on: boolean): void {
    this.opts.payloadEntropy = on;
  }

  onPacket(view: PacketView, meta: FlowMeta): void {
    if (!meta.inspect) return;
    try {
      if (meta.proto === PROTO_TCP) this.tcp(view, meta);
      else if (meta.proto === PROTO_UDP) this.udp(view, meta);
      else this.bypass(meta, D.bypassOther);
    } catch {
      this.count(R.internalError);
      meta.inspect = false;
      meta.dissectState = undefined;
    }
  }

  onFlowEnd(meta: FlowMeta): void {
    try {
      const st = meta.dissectState;
      if (typeof st === 'number') {
        // only a bare SYN was seen (see tcp): nothing was started, nothing to count
      } else if (st instanceof TlsFlowState) {
        if (meta.inspect) st.end(meta);
        else st.release();
      } else if (st !== undefined) {
        if (meta.proto === PROTO_UDP && !isDnsFlow(meta)) this.quic.onFlowEnd(meta);
        else this.dns.onFlowEnd(meta);
      }
    } catch {
      this.count(R.internalError);
    }
    meta.dissectState = undefined;
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of this.counts) out[k] = v;
    return out;
  }

  private tcp(view: PacketView, meta: FlowMeta): void {
    if (isDnsFlow(meta)) {
      this.dns.onPacket(view, meta);
      return;
    }
    let st = meta.dissectState;
    if (!(st instanceof TlsFlowState)) {
      // Nothing to learn from a flow whose first packet we see is a FIN/RST without data.
      const flags = view.tcpFlags;
      if (view.payloadLen === 0 && (flags & TCP_SYN) === 0 && (flags & (TCP_FIN | TCP_RST)) !== 0) {
        meta.inspect = false;
        meta.dissectState = undefined;
        return;
      }
      // A bare SYN from the client only says where its stream starts: that sequence number is
      // the flow's state until data or an answer needs a TlsFlowState (a scanned port's flow
      // never does, and keeps no object: as a signed 32-bit value it is a small integer, not a
      // boxed number).
      if (view.payloadLen === 0 && view.fromOrig && (flags & (TCP_SYN | TCP_FIN | TCP_RST)) === TCP_SYN) {
        meta.dissectState = (view.tcpSeq + 1) | 0;
        return;
      }
      const tls = new TlsFlowState(this.opts, this.tlsDeps);
      if (typeof st === 'number') tls.startAt(st >>> 0);
      st = tls;
      meta.dissectState = st;
    }
    if ((st as TlsFlowState).onPacket(view, meta)) {
      meta.inspect = false;
      meta.dissectState = undefined;
    }
  }

  private udp(view: PacketView, meta: FlowMeta): void {
    if (isDnsFlow(meta)) {
      this.dns.onPacket(view, meta);
      return;
    }
    if (meta.dissectState === undefined) {
      const first = view.payloadLen > 0 ? (view.buf[view.payloadOff] ?? 0) : 0;
      if ((first & 0x80) === 0 || view.payloadLen < 7) return this.bypass(meta, D.bypassOther);
      this.count(D.quicCandidate);
    }
    this.quic.onPacket(view, meta);
  }

  private bypass(meta: FlowMeta, reason: DissectCounter): void {
    this.count(reason);
    meta.inspect = false;
    meta.dissectState = undefined;
  }
}
