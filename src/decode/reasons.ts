/**
 * Decode outcomes, counted per packet (metric label and replay summary line). The first group
 * are malformed or truncated packets; the second are packets that are fine but carry nothing a
 * flow can be keyed on, or notes (fragments, tunnels).
 */
export const DECODE_REASONS = [
  'decode.ok',
  // malformed / truncated
  'decode.link_truncated',
  'decode.vlan_truncated',
  'decode.ipv4_truncated',
  'decode.ipv4_bad_header',
  'decode.ipv4_length_exceeds_frame',
  'decode.ipv6_truncated',
  'decode.ipv6_ext_truncated',
  'decode.tcp_truncated',
  'decode.tcp_bad_offset',
  'decode.udp_truncated',
  'decode.icmp_truncated',
  'decode.sctp_truncated',
  'decode.tunnel_truncated',
  // not keyable or informational
  'decode.unknown_link_type',
  'decode.not_ip',
  'decode.fragment',
  'decode.tunnel_6in4',
  'decode.tunnel_ipip',
  'decode.tunnel_gtpu',
  'decode.other_proto',
] as const;
export type DecodeReason = (typeof DECODE_REASONS)[number];

export const R = Object.fromEntries(DECODE_REASONS.map((r, i) => [r, i])) as Record<DecodeReason, number>;

/** Reasons that mean the packet was malformed or cut (for the "malformed by reason" summary). */
export const MALFORMED = new Set<string>(DECODE_REASONS.slice(1, DECODE_REASONS.indexOf('decode.unknown_link_type')));
