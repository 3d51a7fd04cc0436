/**
 * Every reason the QUIC dissector counts (`quic.<reason>`). ClientHello parse failures are
 * counted with the TLS parser's own `tls.*` reasons.
 */
export const QUIC_REASONS = [
  /** Long header cut short, or a packet shorter than its Length field says. */
  'quic.truncated',
  /** A connection ID longer than 20 bytes. */
  'quic.bad_cid',
  /** Token Length beyond the packet. */
  'quic.bad_token',
  /** AEAD tag check failed with the client Initial keys (not QUIC, corrupted, unknown salt). */
  'quic.decrypt_failed',
  /** A reserved version (0x?a?a?a?a) whose Initial was not encrypted like v1. */
  'quic.reserved_version',
  /** Top bit set but no fixed bit and an unknown version: another UDP protocol (RTP, ...). */
  'quic.not_quic',
  /** A version without known Initial keys. */
  'quic.unsupported_version',
  /** Google QUIC other than Q046 (its CHLO is encrypted). */
  'quic.gquic_unparsed',
  /** A Q046 packet whose frames hold no CHLO message. */
  'quic.gquic_no_chlo',
  /** A Q046 CHLO cut short (tag table or a value past the packet). */
  'quic.gquic_truncated',
  /** A Q046 CHLO with too many tags, tag offsets going backwards, or an empty or oversized SNI. */
  'quic.gquic_malformed',
  /** A frame type outside RFC 9000/9221 in an Initial (the rest of the packet is unreadable). */
  'quic.unknown_frame',
  /** A frame in a decrypted Initial cut short. */
  'quic.frame_truncated',
  /** A frame in a decrypted Initial whose fields contradict each other (e.g. a CRYPTO range past the packet). */
  'quic.frame_malformed',
  /** The CRYPTO stream does not start with a ClientHello. */
  'quic.not_client_hello',
  /** The ClientHello (or CRYPTO data) exceeds `maxCryptoBytes`. */
  'quic.crypto_too_long',
  /** The flow ended with a hole in the CRYPTO stream before the ClientHello was complete. */
  'quic.crypto_gap',
  /** The flow ended (or moved to 1-RTT) with the ClientHello contiguous but incomplete. */
  'quic.hello_incomplete',
  /** Short-header traffic without any Initial seen (capture began mid-connection). */
  'quic.no_initial',
  /** More client Initial datagrams than the per-flow bound without a complete ClientHello. */
  'quic.too_many_initials',
  /** A long-header parse handed a short-header packet (the router only hands long headers over). */
  'quic.short_header',
  /** A client Initial packet decrypted (an outcome, counted per packet). */
  'quic.decrypted',
  /** A ClientHello parsed from the CRYPTO stream of a QUIC v1/v2 (or draft) flow (an outcome). */
  'quic.hello_parsed',
  /** A Google QUIC Q046 CHLO read (an outcome; its own transport in the handshake counters). */
  'gquic.hello_parsed',
] as const;

export type QuicReason = (typeof QUIC_REASONS)[number];

/** Not a counter: the flow is given up after its decrypt failure was already counted once. */
export const GAVE_UP = 'gave up after counted decrypt failures' as const;
