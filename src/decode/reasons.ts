/**
 * Decode outcomes, counted per packet (metric label and replay summary line). Each reason is
 * declared once with its kind: a `failure` is a malformed or truncated packet; an `outcome` is
 * a packet decoded (or not keyable, though well formed); a `note` marks a packet that decoded
 * but is worth telling apart (fragments, tunnels). The order of the list is the index order of
 * the decoder's counters, nothing more.
 */
import type { CounterKind } from '../metrics.js';

export const DECODE_COUNTERS = [
  { name: 'decode.ok', kind: 'outcome' },
  { name: 'decode.link_truncated', kind: 'failure' },
  { name: 'decode.vlan_truncated', kind: 'failure' },
  { name: 'decode.ipv4_truncated', kind: 'failure' },
  { name: 'decode.ipv4_bad_header', kind: 'failure' },
  { name: 'decode.ipv4_length_exceeds_frame', kind: 'failure' },
  { name: 'decode.ipv6_truncated', kind: 'failure' },
  { name: 'decode.ipv6_ext_truncated', kind: 'failure' },
  { name: 'decode.tcp_truncated', kind: 'failure' },
  { name: 'decode.tcp_bad_offset', kind: 'failure' },
  { name: 'decode.udp_truncated', kind: 'failure' },
  { name: 'decode.icmp_truncated', kind: 'failure' },
  { name: 'decode.sctp_truncated', kind: 'failure' },
  { name: 'decode.tunnel_truncated', kind: 'failure' },
  { name: 'decode.unknown_link_type', kind: 'outcome' },
  { name: 'decode.not_ip', kind: 'outcome' },
  { name: 'decode.fragment', kind: 'note' },
  { name: 'decode.tunnel_6in4', kind: 'note' },
  { name: 'decode.tunnel_ipip', kind: 'note' },
  { name: 'decode.tunnel_gtpu', kind: 'note' },
  { name: 'decode.other_proto', kind: 'outcome' },
] as const satisfies ReadonlyArray<{ name: `decode.${string}`; kind: CounterKind }>;

export type DecodeReason = (typeof DECODE_COUNTERS)[number]['name'];

/** The reason names, in counter index order. */
export const DECODE_REASONS: readonly DecodeReason[] = DECODE_COUNTERS.map((c) => c.name);

export const R = Object.fromEntries(DECODE_REASONS.map((r, i) => [r, i])) as Record<DecodeReason, number>;

/** Reasons that mean the packet was malformed or cut (for the "malformed by reason" summary). */
export const MALFORMED: ReadonlySet<string> = new Set<string>(DECODE_COUNTERS.filter((c) => c.kind === 'failure').map((c) => c.name));
