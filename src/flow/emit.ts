/** Build the FlowRecord of a slot (the only place the flow stage makes strings): the flow's own
 * fields; what dissect learned is the packet path's to add (src/pipeline.ts). */
import type { FlowEndReason, FlowMeta, FlowRecord } from '../records.js';
import { v4ToString, v6WordsToString } from '../decode/addr.js';
import { icmpCounterpart } from '../decode/icmp.js';
import { COMMUNITY_ID_DEFERRED, communityIdOfWords } from './community-id.js';
import { KW, type FlowColumns } from './columns.js';

/**
 * IPv4 address strings by address, direct-mapped: the same address (a client, a resolver, a
 * scanner, a scanned host's ports) gets the same string instead of a new one per record.
 */
const V4_SLOTS = 4096;
const v4Key = new Float64Array(V4_SLOTS).fill(-1);
const v4Str: string[] = new Array<string>(V4_SLOTS).fill('');

function v4String(a: number): string {
  const i = (Math.imul(a, 0x9e3779b1) >>> 20) & (V4_SLOTS - 1);
  if (v4Key[i] === a) return v4Str[i]!;
  const s = v4ToString(a);
  v4Key[i] = a;
  v4Str[i] = s;
  return s;
}

/**
 * The optional fields later stages set, present (undefined) from the start in the order they
 * are set (packet path: handshake, payloadEntropy; names: dnsConflict, host, hostAgrees). Added
 * to a record afterwards, each was a new property: during a SYN scan that store cost ~3 µs per
 * record (it left V8's fast path), more than the rest of naming a flow. JSON leaves undefined
 * fields out, so a record serializes exactly as before.
 */
type LaterFields = { [K in 'handshake' | 'payloadEntropy' | 'dnsConflict' | 'host' | 'hostAgrees']-?: FlowRecord[K] | undefined };

export function emitRecord(
  t: FlowColumns,
  slot: number,
  reason: FlowEndReason,
  meta: FlowMeta,
  origBy: FlowRecord['origBy'],
  /** Leave an IPv4 record's Community ID to `communityIdOf` (src/flow/community-id.ts). */
  lazyCommunityId = false,
): FlowRecord {
  const w = t.keyW;
  const o = slot * KW;
  const v6 = w[o + 9]! >>> 8 === 6;
  const proto = w[o + 9]! & 255;
  const aS = v6 ? v6WordsToString(w, o) : v4String(w[o]!);
  const bS = v6 ? v6WordsToString(w, o + 4) : v4String(w[o + 4]!);
  const aPort = w[o + 8]! >>> 16;
  const bPort = w[o + 8]! & 0xffff;
  const vl = w[o + 10]!;
  const vlan: number[] = [];
  if (vl >>> 12) vlan.push(vl >>> 12);
  if (vl & 0xfff) vlan.push(vl & 0xfff);
  const origIsA = t.origIsA[slot] === 1;
  const oi = slot * 2 + (origIsA ? 0 : 1);
  const ri = slot * 2 + (origIsA ? 1 : 0);
  const origAddr = origIsA ? aS : bS;
  const respAddr = origIsA ? bS : aS;
  const origPort = origIsA ? aPort : bPort;
  const respPort = origIsA ? bPort : aPort;
  // ICMP "ports" are (type, counterpart) for request/reply types and (type, code) for the others,
  // which are one-way: hashed sender first, never reordered (Community ID spec, as Zeek)
  const oneWay = (proto === 1 || proto === 58) && icmpCounterpart(proto, origPort) !== respPort;
  const cid = lazyCommunityId && !v6
    ? COMMUNITY_ID_DEFERRED
    : oneWay
    ? communityIdOfWords(proto, w, origIsA ? o : o + 4, origPort, origIsA ? o + 4 : o, respPort, v6, true)
    : communityIdOfWords(proto, w, o, aPort, o + 4, bPort, v6, false);
  const rec: Omit<FlowRecord, keyof LaterFields> & LaterFields = {
    flowId: meta.flowId,
    communityId: cid,
    proto,
    vlan,
    origAddr,
    origPort,
    respAddr,
    respPort,
    origBy,
    origPkts: t.pkts[oi]!,
    respPkts: t.pkts[ri]!,
    origWireBytes: t.wire[oi]!,
    respWireBytes: t.wire[ri]!,
    origCapBytes: t.capB[oi]!,
    respCapBytes: t.capB[ri]!,
    origIpBytes: t.ipB[oi]!,
    respIpBytes: t.ipB[ri]!,
    origPayloadBytes: t.payB[oi]!,
    respPayloadBytes: t.payB[ri]!,
    firstTsUs: t.first[slot]!,
    lastTsUs: t.last[slot]!,
    origTcpFlags: t.flags[oi]!,
    respTcpFlags: t.flags[ri]!,
    endReason: reason,
    ifIndex: t.ifIdx[slot]!,
    hostSource: 'none',
    handshake: undefined,
    payloadEntropy: undefined,
    dnsConflict: undefined,
    host: undefined,
    hostAgrees: undefined,
  };
  // dissect's results (handshake, entropy) are set by the packet path once dissect is done,
  // the names by passive DNS
  return rec as unknown as FlowRecord;
}
