import type { CounterDecl, CounterDecls } from '../counters.js';
import { DNS_COUNTERS, type DnsReason } from './dns/reasons.js';
import { QUIC_COUNTERS, type QuicReason } from './quic/reasons.js';

/** A counter declared under a constant the code counts by (`R.gap`), with its name. */
interface NamedCounter extends CounterDecl {
  readonly name: string;
}

/** `{ key: { name } }` → `{ key: name }`, the names keeping their literal types. */
function namesOf<T extends Record<string, NamedCounter>>(t: T): { readonly [K in keyof T]: T[K]['name'] } {
  return Object.fromEntries(Object.entries(t).map(([k, c]) => [k, c.name])) as { readonly [K in keyof T]: T[K]['name'] };
}

function declsOf(t: Record<string, NamedCounter>): CounterDecls {
  return Object.fromEntries(Object.values(t).map(({ name, ...d }) => [name, d]));
}

/**
 * Counters of the TLS dissector, `<layer>.<reason>` in snake case, by the constant the code
 * counts with. Outcomes that are not failures (`tls.hello_parsed`) are counted the same way so
 * ratios can be computed.
 */
const TLS_COUNTERS = {
  helloParsed: { name: 'tls.hello_parsed', kind: 'outcome', doc: 'A ClientHello was parsed (first one of a flow).', metric: { name: 'llmtap_dissect_handshakes_total', labels: { transport: 'tls' } } },
  helloDuplicate: { name: 'tls.hello_duplicate', kind: 'note', doc: 'A further ClientHello in the same flow (duplicate, or after HelloRetryRequest).' },
  helloMultiSegment: { name: 'tls.hello_multi_segment', kind: 'note', doc: 'The ClientHello needed reassembly across TCP segments.' },
  helloMultiRecord: { name: 'tls.hello_multi_record', kind: 'note', doc: 'The ClientHello spanned several TLS records.' },
  helloIncomplete: { name: 'tls.hello_incomplete', kind: 'failure', doc: 'Flow ended (or inspection budget ran out) before the hello was complete, no hole seen.' },
  gap: { name: 'tls.gap', kind: 'failure', doc: 'A client segment of the hello is missing (hole in sequence space, or server ACKed unseen data).' },
  recordTooLarge: { name: 'tls.record_too_large', kind: 'failure', doc: 'A TLS record longer than 2^14 bytes (RFC 8446 §5.1) in the client\'s first flight.' },
  helloTooLarge: { name: 'tls.hello_too_large', kind: 'failure', doc: 'The hello is larger than maxHelloBytes.' },
  tooManySegments: { name: 'tls.too_many_segments', kind: 'failure', doc: 'More out-of-order pieces than maxSegments.' },
  notTls: { name: 'tls.not_tls', kind: 'outcome', doc: 'The client stream does not start with a TLS handshake record (within the scan budget).' },
  notClientHello: { name: 'tls.not_client_hello', kind: 'failure', doc: 'The first handshake message is not a ClientHello.' },
  afterPlaintext: { name: 'tls.after_plaintext', kind: 'note', doc: 'A TLS handshake record was found after a plaintext prefix (STARTTLS, SOCKS, SSLRequest, CONNECT).' },
  noHelloSeen: { name: 'tls.no_hello_seen', kind: 'failure', doc: 'The server kept sending data while no client hello had started: a flow whose handshake happened before the capture began (or a one-sided mirror). Bypassed: its hello is gone.' },
  sslv2Hello: { name: 'tls.sslv2_hello', kind: 'note', doc: 'An SSLv2-compatible hello (RFC 5246 Appendix E.2).' },
  retransmit: { name: 'tls.retransmit', kind: 'note', doc: 'Segments repeating bytes already held (retransmissions, overlaps).' },
  helloTruncated: { name: 'tls.hello_truncated', kind: 'failure', doc: 'The handshake message is shorter than its header (or an SSLv2 hello than its length) says.' },
  helloMalformed: { name: 'tls.hello_malformed', kind: 'failure', doc: 'A ClientHello field (session id, cipher suites, compression, extensions block) runs past its end.' },
  badBounds: { name: 'tls.bad_bounds', kind: 'failure', doc: 'The parser was handed a message range outside its buffer (a bug upstream, never a packet fault).' },
  extMalformed: { name: 'tls.ext_malformed', kind: 'failure', doc: 'An extension runs past the extensions block; parsing stops, fields before it are kept.' },
  sniMalformed: { name: 'tls.sni_malformed', kind: 'failure', doc: 'A server_name extension whose list or name runs past its body.' },
  alpnMalformed: { name: 'tls.alpn_malformed', kind: 'failure', doc: 'An ALPN extension whose list or protocol name runs past its body.' },
  sigalgsMalformed: { name: 'tls.sigalgs_malformed', kind: 'failure', doc: 'A signature_algorithms extension of odd length or past its body.' },
  versionsMalformed: { name: 'tls.versions_malformed', kind: 'failure', doc: 'A supported_versions extension of odd length or past its body.' },
  internalError: { name: 'dissect.internal_error', kind: 'failure', doc: 'Something escaped the dissector (a bug); the flow is bypassed.' },
} as const satisfies Record<string, NamedCounter>;

/** The TLS counter names by constant (`R.gap` → `tls.gap`). */
export const TLS_REASONS = namesOf(TLS_COUNTERS);

export type TlsReason = (typeof TLS_REASONS)[keyof typeof TLS_REASONS];

/** Router-level counters. */
const ROUTER_COUNTERS = {
  bypassOther: { name: 'dissect.bypass_other', kind: 'outcome', doc: 'A flow no dissector takes (neither DNS, TLS nor QUIC by the router\'s rule): bypassed.' },
  quicCandidate: { name: 'dissect.quic_candidate', kind: 'outcome', doc: 'A UDP flow whose first payload looks like a QUIC long header: handed to the QUIC dissector.' },
} as const satisfies Record<string, NamedCounter>;

/** The router's counter names by constant. */
export const DISSECT_REASONS = namesOf(ROUTER_COUNTERS);

export type RouterReason = (typeof DISSECT_REASONS)[keyof typeof DISSECT_REASONS];

/** Every counter name the dissect stage counts: the router's, TLS's, QUIC's and DNS's. */
export type DissectCounter = TlsReason | RouterReason | QuicReason | DnsReason;

/**
 * Every dissect counter with its kind and doc: `failure` (a handshake or message that could not
 * be read, or work given up), `outcome` (what happened to input that was fine: a parsed hello, a
 * flow that simply is not TLS or QUIC, a router decision), `note` (worth telling apart, neither).
 * Typed as a complete record: a counter without a declaration does not compile.
 */
export const DISSECT_COUNTERS: CounterDecls<DissectCounter> = {
  ...(declsOf(TLS_COUNTERS) as CounterDecls<TlsReason>),
  ...(declsOf(ROUTER_COUNTERS) as CounterDecls<RouterReason>),
  ...QUIC_COUNTERS,
  ...DNS_COUNTERS,
};
