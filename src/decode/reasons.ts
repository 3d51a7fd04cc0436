/**
 * Decode outcomes, counted per packet (metric label and replay summary line). Each reason is
 * declared once with its kind: a `failure` is a malformed or truncated packet; an `outcome` is
 * a packet decoded (or not keyable, though well formed); a `note` marks a packet that decoded
 * but is worth telling apart (fragments, tunnels). The order of the list is the index order of
 * the decoder's counters, nothing more.
 */
import type { CounterDecls, CounterKind } from '../counters.js';

export const DECODE_COUNTERS = [
  { name: 'decode.ok', kind: 'outcome', doc: 'A packet decoded to a keyable TCP, UDP, ICMP or SCTP flow.' },
  { name: 'decode.link_truncated', kind: 'failure', doc: 'The frame ends inside its link-layer header (Ethernet, Linux cooked, loopback, …).' },
  { name: 'decode.vlan_truncated', kind: 'failure', doc: 'The frame ends inside an 802.1Q/802.1ad VLAN tag.' },
  { name: 'decode.ipv4_truncated', kind: 'failure', doc: 'The packet ends inside its IPv4 header (or inside the options its IHL announces).' },
  { name: 'decode.ipv4_bad_header', kind: 'failure', doc: 'An IPv4 header with a wrong version, an IHL below 20 bytes or a total length below its header.' },
  { name: 'decode.ipv4_length_exceeds_frame', kind: 'failure', doc: 'IPv4 total length beyond the captured frame of an uncut frame (decoded on what is there).' },
  { name: 'decode.ipv6_truncated', kind: 'failure', doc: 'The packet ends inside its IPv6 header (or the version nibble is not 6).' },
  { name: 'decode.ipv6_ext_truncated', kind: 'failure', doc: 'The packet ends inside an IPv6 extension header.' },
  { name: 'decode.tcp_truncated', kind: 'failure', doc: 'The packet ends inside its TCP header.' },
  { name: 'decode.tcp_bad_offset', kind: 'failure', doc: 'A TCP data offset below 20 bytes.' },
  { name: 'decode.udp_truncated', kind: 'failure', doc: 'The packet ends inside its UDP header.' },
  { name: 'decode.icmp_truncated', kind: 'failure', doc: 'The packet ends inside its ICMP header.' },
  { name: 'decode.sctp_truncated', kind: 'failure', doc: 'The packet ends inside its SCTP common header.' },
  { name: 'decode.tunnel_truncated', kind: 'failure', doc: 'The inner IP header of a tunnel (6in4, IP-in-IP, GTP-U) is cut.' },
  { name: 'decode.unknown_link_type', kind: 'outcome', doc: 'A capture link type the decoder does not read.' },
  { name: 'decode.not_ip', kind: 'outcome', doc: 'A frame that carries no IP (ARP, LLDP, STP, …).' },
  { name: 'decode.fragment', kind: 'note', doc: 'An IP fragment (a first fragment is keyed; later ones are held or dropped by the flow stage).' },
  { name: 'decode.tunnel_6in4', kind: 'note', doc: 'An IPv6 packet inside IPv4 (protocol 41), decoded to the inner flow.' },
  { name: 'decode.tunnel_ipip', kind: 'note', doc: 'An IPv4 packet inside IPv4 (protocol 4), decoded to the inner flow.' },
  { name: 'decode.tunnel_gtpu', kind: 'note', doc: 'A GTP-U (UDP 2152) user-plane packet, decoded to the inner flow.' },
  { name: 'decode.other_proto', kind: 'outcome', doc: 'An IP packet of another transport protocol (GRE, ESP, OSPF, …): not keyed.' },
] as const satisfies ReadonlyArray<{ name: `decode.${string}`; kind: CounterKind; doc: string }>;

export type DecodeReason = (typeof DECODE_COUNTERS)[number]['name'];

/** The reason names, in counter index order. */
export const DECODE_REASONS: readonly DecodeReason[] = DECODE_COUNTERS.map((c) => c.name);

/** The declarations as a record (counter name → kind, doc), the shape every stage declares. */
export const DECODE_DECLS: CounterDecls<DecodeReason> = Object.fromEntries(DECODE_COUNTERS.map((c) => [c.name, { kind: c.kind, doc: c.doc }])) as CounterDecls<DecodeReason>;

export const R = Object.fromEntries(DECODE_REASONS.map((r, i) => [r, i])) as Record<DecodeReason, number>;

/** Reasons that mean the packet was malformed or cut (for the "malformed by reason" summary). */
export const MALFORMED: ReadonlySet<string> = new Set<string>(DECODE_COUNTERS.filter((c) => c.kind === 'failure').map((c) => c.name));
