import type { CounterKind } from '../metrics.js';
import type { DnsReason } from './dns/reasons.js';
import type { QuicReason } from './quic/reasons.js';

/**
 * Counter names of the dissect stage, `<layer>.<reason>` in snake case. Each is a metric
 * label (`llmtap_dissect_events_total{reason=...}`) and a test expectation. Outcomes that are
 * not failures (`tls.hello_parsed`) are counted the same way so ratios can be computed.
 */
export const TLS_REASONS = {
  /** A ClientHello was parsed (first one of a flow). */
  helloParsed: 'tls.hello_parsed',
  /** A further ClientHello in the same flow (duplicate, or after HelloRetryRequest). */
  helloDuplicate: 'tls.hello_duplicate',
  /** The ClientHello needed reassembly across TCP segments. */
  helloMultiSegment: 'tls.hello_multi_segment',
  /** The ClientHello spanned several TLS records. */
  helloMultiRecord: 'tls.hello_multi_record',
  /** Flow ended (or inspection budget ran out) before the hello was complete, no hole seen. */
  helloIncomplete: 'tls.hello_incomplete',
  /** A client segment of the hello is missing (hole in sequence space, or server ACKed unseen data). */
  gap: 'tls.gap',
  /** A TLS record longer than 2^14 bytes (RFC 8446 §5.1) in the client's first flight. */
  recordTooLarge: 'tls.record_too_large',
  /** The hello is larger than maxHelloBytes. */
  helloTooLarge: 'tls.hello_too_large',
  /** More out-of-order pieces than maxSegments. */
  tooManySegments: 'tls.too_many_segments',
  /** The client stream does not start with a TLS handshake record (within the scan budget). */
  notTls: 'tls.not_tls',
  /** The first handshake message is not a ClientHello. */
  notClientHello: 'tls.not_client_hello',
  /** A TLS handshake record was found after a plaintext prefix (STARTTLS, SOCKS, SSLRequest, CONNECT). */
  afterPlaintext: 'tls.after_plaintext',
  /**
   * The server kept sending data while no client hello had started: a flow whose handshake
   * happened before the capture began (or a one-sided mirror). Bypassed: its hello is gone.
   */
  noHelloSeen: 'tls.no_hello_seen',
  /** An SSLv2-compatible hello (RFC 5246 Appendix E.2). */
  sslv2Hello: 'tls.sslv2_hello',
  /** Segments repeating bytes already held (retransmissions, overlaps). */
  retransmit: 'tls.retransmit',
  /** The handshake message is shorter than its header (or an SSLv2 hello than its length) says. */
  helloTruncated: 'tls.hello_truncated',
  /** A ClientHello field (session id, cipher suites, compression, extensions block) runs past its end. */
  helloMalformed: 'tls.hello_malformed',
  /** The parser was handed a message range outside its buffer (a bug upstream, never a packet fault). */
  badBounds: 'tls.bad_bounds',
  /** An extension runs past the extensions block; parsing stops, fields before it are kept. */
  extMalformed: 'tls.ext_malformed',
  /** A server_name extension whose list or name runs past its body. */
  sniMalformed: 'tls.sni_malformed',
  /** An ALPN extension whose list or protocol name runs past its body. */
  alpnMalformed: 'tls.alpn_malformed',
  /** A signature_algorithms extension of odd length or past its body. */
  sigalgsMalformed: 'tls.sigalgs_malformed',
  /** A supported_versions extension of odd length or past its body. */
  versionsMalformed: 'tls.versions_malformed',
  /** Something escaped the dissector (a bug); the flow is bypassed. */
  internalError: 'dissect.internal_error',
} as const;

export type TlsReason = (typeof TLS_REASONS)[keyof typeof TLS_REASONS];

/** Router-level counters. */
export const DISSECT_REASONS = {
  /** A flow no dissector takes (neither DNS, TLS nor QUIC by the router's rule): bypassed. */
  bypassOther: 'dissect.bypass_other',
  /** A UDP flow whose first payload looks like a QUIC long header: handed to the QUIC dissector. */
  quicCandidate: 'dissect.quic_candidate',
} as const;

export type RouterReason = (typeof DISSECT_REASONS)[keyof typeof DISSECT_REASONS];

/** Every counter name the dissect stage counts: the router's, TLS's, QUIC's and DNS's. */
export type DissectCounter = TlsReason | RouterReason | QuicReason | DnsReason;

/**
 * The kind of every dissect counter: `failure` (a handshake or message that could not be read,
 * or work given up), `outcome` (what happened to input that was fine: a parsed hello, a flow
 * that simply is not TLS or QUIC, a router decision), `note` (worth telling apart, neither).
 * Typed as a complete record: a counter without a kind does not compile.
 */
export const DISSECT_COUNTER_KIND: Readonly<Record<DissectCounter, CounterKind>> = {
  'tls.hello_parsed': 'outcome',
  'tls.hello_duplicate': 'note',
  'tls.hello_multi_segment': 'note',
  'tls.hello_multi_record': 'note',
  'tls.hello_incomplete': 'failure',
  'tls.gap': 'failure',
  'tls.record_too_large': 'failure',
  'tls.hello_too_large': 'failure',
  'tls.too_many_segments': 'failure',
  'tls.not_tls': 'outcome',
  'tls.not_client_hello': 'failure',
  'tls.after_plaintext': 'note',
  'tls.no_hello_seen': 'failure',
  'tls.sslv2_hello': 'note',
  'tls.retransmit': 'note',
  'tls.hello_truncated': 'failure',
  'tls.hello_malformed': 'failure',
  'tls.bad_bounds': 'failure',
  'tls.ext_malformed': 'failure',
  'tls.sni_malformed': 'failure',
  'tls.alpn_malformed': 'failure',
  'tls.sigalgs_malformed': 'failure',
  'tls.versions_malformed': 'failure',
  'dissect.internal_error': 'failure',
  'dissect.bypass_other': 'outcome',
  'dissect.quic_candidate': 'outcome',
  'quic.truncated': 'failure',
  'quic.bad_cid': 'failure',
  'quic.bad_token': 'failure',
  'quic.decrypt_failed': 'failure',
  'quic.reserved_version': 'failure',
  'quic.not_quic': 'outcome',
  'quic.unsupported_version': 'failure',
  'quic.gquic_unparsed': 'failure',
  'quic.gquic_no_chlo': 'failure',
  'quic.gquic_truncated': 'failure',
  'quic.gquic_malformed': 'failure',
  'quic.unknown_frame': 'failure',
  'quic.frame_truncated': 'failure',
  'quic.frame_malformed': 'failure',
  'quic.not_client_hello': 'failure',
  'quic.crypto_too_long': 'failure',
  'quic.crypto_gap': 'failure',
  'quic.hello_incomplete': 'failure',
  'quic.no_initial': 'failure',
  'quic.too_many_initials': 'failure',
  'quic.short_header': 'failure',
  'quic.decrypted': 'outcome',
  'quic.hello_parsed': 'outcome',
  'gquic.hello_parsed': 'outcome',
  'dns.truncated': 'failure',
  'dns.bad_pointer': 'failure',
  'dns.bad_label': 'failure',
  'dns.name_too_long': 'failure',
  'dns.too_many_questions': 'failure',
  'dns.too_many_answers': 'failure',
  'dns.bad_rdata': 'failure',
  'dns.malformed': 'failure',
  'dns.tcp_gap': 'failure',
  'dns.tcp_reorder_overflow': 'failure',
  'dns.flow_budget': 'failure',
};
