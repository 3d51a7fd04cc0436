/**
 * DNS dissector: every response seen on a DNS flow (UDP datagrams; TCP length-prefixed
 * messages) becomes a `DnsAnswer` for passive DNS. DNS flows stay inspected for their whole
 * life (each response matters), but the work per flow is bounded: a message budget, a bounded
 * answer count per message, a bounded TCP buffer.
 */
import { v4ToString, v6ToString } from '../../decode/addr.js';
import type { PacketView } from '../../decode/view.js';
import { TCP_SYN } from '../../decode/view.js';
import type { DnsAnswer, FlowMeta } from '../../records.js';
import { isResponse, parseDnsMessage } from './parse.js';
import type { DnsReason } from './reasons.js';
import { DnsFlowState } from './state.js';
import type { DissectCounter } from '../reasons.js';

export { DNS_REASONS } from './reasons.js';
export type { DnsReason } from './reasons.js';

/** DNS messages read per flow before it is bypassed (a long-lived resolver pair). */
export const MAX_MESSAGES_PER_FLOW = 10_000;
/** Answer records read per message (real answers carry a handful; CDNs up to ~30). */
export const MAX_ANSWERS = 64;

export interface DnsDissectorDeps {
  onDns(a: DnsAnswer): void;
  count(reason: DissectCounter): void;
}

const PROTO_TCP = 6;

export class DnsDissector {
  private readonly issues: DnsReason[] = [];

  constructor(private readonly deps: DnsDissectorDeps) {}

  onPacket(view: PacketView, meta: FlowMeta): void {
    if (!meta.inspect) return;
    const syn = meta.proto === PROTO_TCP && (view.tcpFlags & TCP_SYN) !== 0;
    if (view.payloadLen === 0 && !syn) return;
    let st = meta.dissectState instanceof DnsFlowState ? meta.dissectState : undefined;
    if (st === undefined) {
      st = new DnsFlowState();
      meta.dissectState = st;
    }
    const start = view.payloadOff;
    const end = Math.min(start + view.payloadLen, view.buf.length);
    if (meta.proto === PROTO_TCP) {
      // SYN: the stream of this direction starts at ISN + 1 (RFC 9293 §3.4).
      if (syn) st.stream(view.fromOrig).start((view.tcpSeq + 1) >>> 0);
      if (view.payloadLen === 0) return;
      const s = st;
      const r = st.stream(view.fromOrig).push(view.tcpSeq, view.buf, start, end, (msg) => {
        this.message(view, meta, s, msg, 0, msg.length, 'tcp');
      });
      if (r !== undefined) this.deps.count(r);
    } else {
      this.message(view, meta, st, view.buf, start, end, 'udp');
    }
  }

  onFlowEnd(meta: FlowMeta): void {
    const st = meta.dissectState;
    if (!(st instanceof DnsFlowState)) return;
    meta.dissectState = undefined;
    if (st.origStream?.incomplete() === true || st.respStream?.incomplete() === true) this.deps.count('dns.tcp_gap');
  }

  private message(
    view: PacketView,
    meta: FlowMeta,
    st: DnsFlowState,
    buf: Buffer,
    start: number,
    end: number,
    proto: 'udp' | 'tcp',
  ): void {
    if (!meta.inspect) return;
    // Queries (QR = 0) and other opcodes are skipped before any decoding.
    if (!isResponse(buf, start, end - start)) return;
    if (++st.messages > MAX_MESSAGES_PER_FLOW) {
      this.deps.count('dns.flow_budget');
      meta.inspect = false;
      meta.dissectState = undefined;
      return;
    }
    const issues = this.issues;
    issues.length = 0;
    // A slice, not the chunk: compression pointers count from the message start, and nothing
    // past the datagram may be read as part of it.
    const r = parseDnsMessage(start === 0 && end === buf.length ? buf : buf.subarray(start, end), MAX_ANSWERS, issues);
    for (const i of issues) this.deps.count(i);
    if (!r.ok) {
      this.deps.count(r.reason);
      return;
    }
    const m = r.msg;
    const vlan: number[] = [];
    if (view.vlanDepth > 0) vlan.push(view.vlan0);
    if (view.vlanDepth > 1) vlan.push(view.vlan1);
    this.deps.onDns({
      tsUs: view.tsUs,
      client: dstText(view),
      server: srcText(view),
      proto,
      id: m.id,
      rcode: m.rcode,
      qname: m.qname,
      qtype: m.qtype,
      answers: m.answers,
      flowId: meta.flowId,
      vlan,
    });
  }
}

function srcText(v: PacketView): string {
  return v.ipVersion === 6 ? v6ToString(v.buf, v.src6Off) : v4ToString(v.src4);
}

function dstText(v: PacketView): string {
  return v.ipVersion === 6 ? v6ToString(v.buf, v.dst6Off) : v4ToString(v.dst4);
}
