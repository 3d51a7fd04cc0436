/**
 * encrypted_client_hello (0xfe0d) classification: GREASE or a real outer hello.
 *
 * Body (draft-ietf-tls-esni-22 §5):
 *   ECHClientHelloType type(1)   0 = outer, 1 = inner
 *   outer: HpkeSymmetricCipherSuite (kdf_id(2), aead_id(2)) | config_id(1)
 *          | enc<0..2^16-1> | payload<1..2^16-1>
 *
 * Both forms are random bytes by design (§6.2: GREASE must look like a real extension), so
 * the only usable signal is size. The rule, documented here and tested:
 * - `grease`: outer, enc is 32 bytes (X25519 HPKE), and the payload is one of the sizes a
 *   GREASE sender draws: 128, 160, 192 or 224 bytes of "ciphertext" plus the 16-byte AEAD tag
 *   (144, 176, 208, 240 — the range Chromium/BoringSSL uses), or a payload under 144.
 * - `real`: outer with a payload larger than 240 bytes: an encrypted ClientHelloInner padded
 *   to a multiple of 32 (§6.1.3) carrying a full hello (key shares, ALPN, SNI) does not fit
 *   into the GREASE sizes; observed real outers are 250–400+ bytes.
 * - `unknown`: inner type on the wire, an empty enc (the second hello after a
 *   HelloRetryRequest reuses the context), or any other shape; also malformed bodies.
 * - Sizes alone cannot always tell: a real Cloudflare outer hello in the public corpus
 *   (`zeek-tls13-ech`) carries a 144-byte payload, a GREASE size. So an outer hello whose SNI is
 *   the public_name of a deployed ECH service (`KNOWN_ECH_PUBLIC_NAMES`) is `real` as well:
 *   GREASE is sent with the true destination as SNI, never with a provider's public name.
 * A real ECH outer's SNI is the public (front) name, not the destination.
 */
export type EchKind = 'grease' | 'real' | 'unknown';

/** Largest GREASE payload (224 + 16-byte tag). */
export const ECH_GREASE_MAX_PAYLOAD = 240;

export function classifyEch(buf: Buffer, s: number, e: number): EchKind {
  if (e - s < 1) return 'unknown';
  if (buf[s] !== 0) return 'unknown';
  let p = s + 1 + 4 + 1; // type, cipher suite, config_id
  if (p + 2 > e) return 'unknown';
  const encLen = ((buf[p] ?? 0) << 8) | (buf[p + 1] ?? 0);
  p += 2 + encLen;
  if (p + 2 > e) return 'unknown';
  const payloadLen = ((buf[p] ?? 0) << 8) | (buf[p + 1] ?? 0);
  if (p + 2 + payloadLen !== e || payloadLen === 0) return 'unknown';
  if (encLen === 0) return 'unknown';
  if (payloadLen > ECH_GREASE_MAX_PAYLOAD) return 'real';
  if (encLen === 32) return 'grease';
  return 'unknown';
}

/** public_name values of ECH deployments (ECHConfig.public_name, draft-ietf-tls-esni §4). */
export const KNOWN_ECH_PUBLIC_NAMES: ReadonlySet<string> = new Set(['cloudflare-ech.com']);

/** Apply the public-name rule to a size-based classification. */
export function refineEch(kind: EchKind, sni: string | undefined): EchKind {
  if (kind !== 'real' && sni !== undefined && KNOWN_ECH_PUBLIC_NAMES.has(sni.toLowerCase())) return 'real';
  return kind;
}
