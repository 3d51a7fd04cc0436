import type { CounterDecls } from '../../counters.js';

/** Every reason the DNS dissector counts (`dns.<reason>`). */
export const DNS_COUNTERS = {
  'dns.truncated': { kind: 'failure', doc: 'Message shorter than its header or a section runs past the end.' },
  'dns.bad_pointer': { kind: 'failure', doc: 'A compression pointer that does not point backwards (RFC 1035 §4.1.4; loops are refused).' },
  'dns.bad_label': { kind: 'failure', doc: 'A label type other than 00/11 (RFC 1035 §4.1.4, RFC 6891 §5).' },
  'dns.name_too_long': { kind: 'failure', doc: 'A name over 255 octets (RFC 1035 §3.1); the record is skipped by its wire length.' },
  'dns.too_many_questions': { kind: 'failure', doc: 'More questions than the bound (real responses carry one).' },
  'dns.too_many_answers': { kind: 'failure', doc: 'More answer records than the per-message bound; the rest are not read.' },
  'dns.bad_rdata': { kind: 'failure', doc: 'rdata whose length contradicts its type (A not 4 bytes, AAAA not 16, bad SVCB params).' },
  'dns.malformed': { kind: 'failure', doc: 'Anything else the dns-packet decoder rejected.' },
  'dns.tcp_gap': { kind: 'failure', doc: 'DNS over TCP: a message never completed because a segment is missing.' },
  'dns.tcp_reorder_overflow': { kind: 'failure', doc: 'DNS over TCP: more out-of-order segments than held per flow.' },
  'dns.flow_budget': { kind: 'failure', doc: 'A flow exceeded its budget of DNS messages; it is no longer inspected.' },
} as const satisfies CounterDecls;

export type DnsReason = keyof typeof DNS_COUNTERS;

/** The counter names, in declaration order. */
export const DNS_REASONS = Object.keys(DNS_COUNTERS) as DnsReason[];

