/**
 * ICMP and ICMPv6 message types that come in request/reply pairs, as the Community ID spec
 * (following Zeek's ICMP4_counterpart / ICMP6_counterpart) pairs them. A paired message is
 * keyed as the "ports" (type, counterpart type), so request and reply are one conversation; an
 * unpaired type is one-way and keyed as (type, code), its sender first.
 */
const ICMP4_PAIR = new Int16Array(256).fill(-1);
const ICMP6_PAIR = new Int16Array(256).fill(-1);
// echo, timestamp, information, router solicitation/advertisement, address mask
for (const [a, b] of [[8, 0], [13, 14], [15, 16], [10, 9], [17, 18]] as const) {
  ICMP4_PAIR[a] = b;
  ICMP4_PAIR[b] = a;
}
// echo, MLD query/report, router and neighbor discovery, node information (WRU), home agent address discovery
for (const [a, b] of [[128, 129], [130, 131], [133, 134], [135, 136], [139, 140], [144, 145]] as const) {
  ICMP6_PAIR[a] = b;
  ICMP6_PAIR[b] = a;
}

/** The counterpart type of an ICMP (proto 1) or ICMPv6 (58) type, or -1 when it has none (one-way). */
export function icmpCounterpart(proto: number, type: number): number {
  return (proto === 1 ? ICMP4_PAIR : ICMP6_PAIR)[type & 255]!;
}
