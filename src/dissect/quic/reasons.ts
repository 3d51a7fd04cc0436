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
  /** Google QUIC other than Q046 (encrypted CHLO), or a Q046 packet without a readable CHLO. */
  'quic.gquic_unparsed',
  /** A frame type outside RFC 9000/9221 in an Initial (the rest of the packet is unreadable). */
  'quic.unknown_frame',
  'quic.frame_truncated',
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
] as const;

export type QuicReason = (typeof QUIC_REASONS)[number];
