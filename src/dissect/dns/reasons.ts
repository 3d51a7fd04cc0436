/** Every reason the DNS dissector counts (`dns.<reason>`). */
export const DNS_REASONS = [
  /** Message shorter than its header or a section runs past the end. */
  'dns.truncated',
  /** A compression pointer that does not point backwards (RFC 1035 §4.1.4; loops are refused). */
  'dns.bad_pointer',
  /** A label type other than 00/11 (RFC 1035 §4.1.4, RFC 6891 §5). */
  'dns.bad_label',
  /** A name over 255 octets (RFC 1035 §3.1); the record is skipped by its wire length. */
  'dns.name_too_long',
  /** More questions than the bound (real responses carry one). */
  'dns.too_many_questions',
  /** More answer records than the per-message bound; the rest are not read. */
  'dns.too_many_answers',
  /** rdata whose length contradicts its type (A not 4 bytes, AAAA not 16, bad SVCB params). */
  'dns.bad_rdata',
  /** Anything else the dns-packet decoder rejected. */
  'dns.malformed',
  /** DNS over TCP: a message never completed because a segment is missing. */
  'dns.tcp_gap',
  /** DNS over TCP: more out-of-order segments than held per flow. */
  'dns.tcp_reorder_overflow',
  /** A flow exceeded its budget of DNS messages; it is no longer inspected. */
  'dns.flow_budget',
] as const;

export type DnsReason = (typeof DNS_REASONS)[number];
