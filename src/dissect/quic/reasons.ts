import type { CounterDecls } from '../../counters.js';

/**
 * Every reason the QUIC dissector counts (`quic.<reason>`). ClientHello parse failures are
 * counted with the TLS parser's own `tls.*` reasons.
 */
export const QUIC_COUNTERS = {
  'quic.truncated': { kind: 'failure', doc: 'Long header cut short, or a packet shorter than its Length field says.' },
  'quic.bad_cid': { kind: 'failure', doc: 'A connection ID longer than 20 bytes.' },
  'quic.bad_token': { kind: 'failure', doc: 'Token Length beyond the packet.' },
  'quic.decrypt_failed': { kind: 'failure', doc: 'AEAD tag check failed with the client Initial keys (not QUIC, corrupted, unknown salt).' },
  'quic.reserved_version': { kind: 'failure', doc: 'A reserved version (0x?a?a?a?a) whose Initial was not encrypted like v1.' },
  'quic.not_quic': { kind: 'outcome', doc: 'Top bit set but no fixed bit and an unknown version: another UDP protocol (RTP, ...).' },
  'quic.unsupported_version': { kind: 'failure', doc: 'A version without known Initial keys.' },
  'quic.gquic_unparsed': { kind: 'failure', doc: 'Google QUIC other than Q046 (its CHLO is encrypted).' },
  'quic.gquic_no_chlo': { kind: 'failure', doc: 'A Q046 packet whose frames hold no CHLO message.' },
  'quic.gquic_truncated': { kind: 'failure', doc: 'A Q046 CHLO cut short (tag table or a value past the packet).' },
  'quic.gquic_malformed': { kind: 'failure', doc: 'A Q046 CHLO with too many tags, tag offsets going backwards, or an empty or oversized SNI.' },
  'quic.unknown_frame': { kind: 'failure', doc: 'A frame type outside RFC 9000/9221 in an Initial (the rest of the packet is unreadable).' },
  'quic.frame_truncated': { kind: 'failure', doc: 'A frame in a decrypted Initial cut short.' },
  'quic.frame_malformed': { kind: 'failure', doc: 'A frame in a decrypted Initial whose fields contradict each other (e.g. a CRYPTO range past the packet).' },
  'quic.not_client_hello': { kind: 'failure', doc: 'The CRYPTO stream does not start with a ClientHello.' },
  'quic.crypto_too_long': { kind: 'failure', doc: 'The ClientHello (or CRYPTO data) exceeds `maxCryptoBytes`.' },
  'quic.crypto_gap': { kind: 'failure', doc: 'The flow ended with a hole in the CRYPTO stream before the ClientHello was complete.' },
  'quic.hello_incomplete': { kind: 'failure', doc: 'The flow ended (or moved to 1-RTT) with the ClientHello contiguous but incomplete.' },
  'quic.no_initial': { kind: 'failure', doc: 'Short-header traffic without any Initial seen (capture began mid-connection).' },
  'quic.too_many_initials': { kind: 'failure', doc: 'More client Initial datagrams than the per-flow bound without a complete ClientHello.' },
  'quic.short_header': { kind: 'failure', doc: 'A long-header parse handed a short-header packet (the router only hands long headers over).' },
  'quic.decrypted': { kind: 'outcome', doc: 'A client Initial packet decrypted (an outcome, counted per packet).', metric: { name: 'llmtap_dissect_quic_decrypted_total' } },
  'quic.hello_parsed': { kind: 'outcome', doc: 'A ClientHello parsed from the CRYPTO stream of a QUIC v1/v2 (or draft) flow (an outcome).', metric: { name: 'llmtap_dissect_handshakes_total', labels: { transport: 'quic' } } },
  'gquic.hello_parsed': { kind: 'outcome', doc: 'A Google QUIC Q046 CHLO read (an outcome; its own transport in the handshake counters).', metric: { name: 'llmtap_dissect_handshakes_total', labels: { transport: 'gquic' } } },
} as const satisfies CounterDecls;

export type QuicReason = keyof typeof QUIC_COUNTERS;

/** The counter names, in declaration order. */
export const QUIC_REASONS = Object.keys(QUIC_COUNTERS) as QuicReason[];


/** Not a counter: the flow is given up after its decrypt failure was already counted once. */
export const GAVE_UP = 'gave up after counted decrypt failures' as const;
