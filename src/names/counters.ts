/** Counters of the names stage (passive DNS and flow naming), declared once: kind and doc. */
import type { CounterDecls } from '../counters.js';

export const NAMES_COUNTERS = {
  'names.answers': { kind: 'outcome', doc: 'DNS responses given to passive DNS (every parsed response).', metric: { name: 'llmtap_dns_answers_total' } },
  'names.answers_negative': { kind: 'outcome', doc: 'DNS responses with a non-zero rcode (NXDOMAIN, SERVFAIL, …): nothing indexed.' },
  'names.addresses': { kind: 'outcome', doc: 'Address records indexed (A, AAAA and SVCB/HTTPS address hints).' },
  'names.entries_client': {
    kind: 'note',
    doc: 'Per-client name lists held now (a level, not a count).',
    metric: { name: 'llmtap_names_passive_dns_entries' },
  },
  'names.entries_addr': { kind: 'note', doc: 'Addresses held now (a level, not a count).', metric: { name: 'llmtap_names_passive_dns_entries' } },
  'names.evictions': { kind: 'failure', doc: 'Entries dropped (an address with its client lists, or one client list) because passive DNS was full (`names.max_entries`) or an address had too many clients.' },
  'names.lookups': { kind: 'outcome', doc: 'Flow records named.' },
  'names.host_sni': { kind: 'outcome', doc: 'Flows named by their TLS or QUIC SNI.' },
  'names.host_dns_client': { kind: 'outcome', doc: 'Flows named by a DNS answer the same client received.' },
  'names.host_dns_any': { kind: 'outcome', doc: 'Flows named by a DNS answer another client received.' },
  'names.host_none': { kind: 'outcome', doc: 'Flows left without a name (no SNI, no valid DNS answer).' },
  'names.sni_dns_agree': { kind: 'note', doc: 'Flows whose SNI is among the names DNS gave for the address.' },
  'names.sni_dns_disagree': { kind: 'note', doc: 'Flows whose SNI is not among the names DNS gave for the address.' },
  'names.dns_conflicts': { kind: 'note', doc: 'Flows to an address with several distinct valid names (a shared CDN address).' },
  'names.ech_front': { kind: 'note', doc: 'Flows whose SNI is the public front of a real ECH hello (named by DNS instead).' },
} as const satisfies CounterDecls<`names.${string}`>;
