/**
 * QUIC Initial packet protection keys (RFC 9001 §5.2, RFC 9369 §3.3.1).
 *
 *   initial_secret = HKDF-Extract(initial_salt, client_dst_connection_id)
 *   client_initial_secret = HKDF-Expand-Label(initial_secret, "client in", "", 32)
 *   key = HKDF-Expand-Label(client_initial_secret, "quic key", "", 16)   // v2: "quicv2 key"
 *   iv  = HKDF-Expand-Label(client_initial_secret, "quic iv",  "", 12)   // v2: "quicv2 iv"
 *   hp  = HKDF-Expand-Label(client_initial_secret, "quic hp",  "", 16)   // v2: "quicv2 hp"
 *
 * HKDF-Expand-Label is the TLS 1.3 construction (RFC 8446 §7.1) with SHA-256, the hash of the
 * Initial cipher suite TLS_AES_128_GCM_SHA256. Only the client's keys are derived: llmtap reads
 * the ClientHello and nothing the server sends.
 */
import { createHmac, type Cipheriv } from 'node:crypto';

export const QUIC_V1 = 0x00000001;
export const QUIC_V2 = 0x6b3343cf;
/** Google QUIC with TLS 1.3 (T051, T050) uses the IETF Initial layout with its own salt. */
export const GQUIC_T051 = 0x54303531;
export const GQUIC_T050 = 0x54303530;

const SALT_V1 = Buffer.from('38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'hex');
/** RFC 9369 §3.3.1. */
const SALT_V2 = Buffer.from('0dede3def700a6db819381be6e269dcbf9bd2ed9', 'hex');
/** draft-ietf-quic-tls-29 §5.2 (also drafts 30–32). */
const SALT_D29 = Buffer.from('afbfec289993d24c9e9786f19c6111e04390a899', 'hex');
/** draft-ietf-quic-tls-23 §5.2 (drafts 23–28). */
const SALT_D23 = Buffer.from('c3eef712c72ebb5a11a7d2432bb46365bef9f502', 'hex');
/** Google's published salts for T050 / T051 (QUIC-with-TLS experiments). */
const SALT_T050 = Buffer.from('7ff579e5acd072915580304c43a2367c60488310', 'hex');
const SALT_T051 = Buffer.from('7a4edef4e7ccee5fa4506c19124fc8ccda6e033d', 'hex');

/** How one version protects its Initial packets. */
export interface VersionProfile {
  salt: Buffer;
  /** Label prefix after "tls13 ": "quic" or "quicv2". */
  label: 'quic' | 'quicv2';
  /** The long-header packet type bits (RFC 9000 §17.2; RFC 9369 §3.2) for Initial and Retry. */
  initialType: number;
  retryType: number;
  /** A reserved (greased) version encrypted like v1: an answer is a bonus, not a promise. */
  reserved: boolean;
  /** Google T05x: Google's frame types (CRYPTO is 0x08, PING 0x07), not RFC 9000's. */
  gquicFrames: boolean;
}

const V1: VersionProfile = {
  salt: SALT_V1,
  label: 'quic',
  initialType: 0,
  retryType: 3,
  reserved: false,
  gquicFrames: false,
};

/** True for the reserved versions 0x?a?a?a?a used to force version negotiation (RFC 9000 §15). */
export function isReservedVersion(v: number): boolean {
  return (v & 0x0f0f0f0f) === 0x0a0a0a0a;
}

/** The profile of a QUIC version, or undefined when it is not one llmtap can decrypt. */
export function versionProfile(v: number): VersionProfile | undefined {
  if (v === QUIC_V1) return V1;
  if (v === QUIC_V2) return { ...V1, salt: SALT_V2, label: 'quicv2', initialType: 1, retryType: 0 };
  if (v >>> 8 === 0xff0000) {
    const draft = v & 0xff;
    if (draft >= 33 && draft <= 34) return V1;
    if (draft >= 29 && draft <= 32) return { ...V1, salt: SALT_D29 };
    if (draft >= 27 && draft <= 28) return { ...V1, salt: SALT_D23 };
    return undefined;
  }
  if (v === GQUIC_T051) return { ...V1, salt: SALT_T051, gquicFrames: true };
  if (v === GQUIC_T050) return { ...V1, salt: SALT_T050, gquicFrames: true };
  if (isReservedVersion(v)) return RESERVED_PROFILES[0];
  return undefined;
}

/**
 * A reserved version says nothing about the keys: clients that force version negotiation
 * encrypt with the version they prefer. Tried in order: v1, then draft-29 (the QUIC interop
 * runner's clients of 2020–2021 did this).
 */
export const RESERVED_PROFILES: readonly VersionProfile[] = [
  { ...V1, reserved: true },
  { ...V1, salt: SALT_D29, reserved: true },
];

/** HKDF-Extract (RFC 5869 §2.2) with SHA-256. */
function extract(salt: Buffer, ikm: Buffer): Buffer {
  return createHmac('sha256', salt).update(ikm).digest();
}

/**
 * The HKDF-Expand input for one label: RFC 8446 §7.1 HkdfLabel with an empty context, then
 * RFC 5869's block counter 0x01 (one block, T(1), suffices for ≤ 32 bytes). The labels are
 * fixed, so each is built once at load instead of per connection.
 */
function hkdfLabel(label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.alloc(2 + 1 + full.length + 1 + 1);
  info.writeUInt16BE(length, 0);
  info[2] = full.length;
  full.copy(info, 3);
  info[3 + full.length] = 0; // context length
  info[4 + full.length] = 1; // block counter
  return info;
}

/** HKDF-Expand-Label (RFC 8446 §7.1) with SHA-256 for an `info` made by `hkdfLabel`. */
function expand(secret: Buffer, info: Buffer, length: number): Buffer {
  return createHmac('sha256', secret).update(info).digest().subarray(0, length);
}

const CLIENT_IN = hkdfLabel('client in', 32);
/** The packet-protection labels of each label prefix ("quic" for v1 and drafts, "quicv2"). */
const PACKET_LABELS: Record<VersionProfile['label'], { key: Buffer; iv: Buffer; hp: Buffer }> = {
  quic: { key: hkdfLabel('quic key', 16), iv: hkdfLabel('quic iv', 12), hp: hkdfLabel('quic hp', 16) },
  quicv2: { key: hkdfLabel('quicv2 key', 16), iv: hkdfLabel('quicv2 iv', 12), hp: hkdfLabel('quicv2 hp', 16) },
};

export interface InitialKeys {
  key: Buffer;
  iv: Buffer;
  hp: Buffer;
  /**
   * The header-protection cipher (AES-128-ECB over one 16-byte sample, RFC 9001 §5.4.3), made
   * on first use and kept with the keys: ECB has no state between blocks, so the second and
   * third Initial of a flow reuse it instead of creating another cipher context.
   */
  hpCipher?: Cipheriv;
}

/** The client's Initial keys for `dcid` (the Destination Connection ID of its first Initial). */
export function clientInitialKeys(profile: VersionProfile, dcid: Buffer): InitialKeys {
  const initial = extract(profile.salt, dcid);
  const client = expand(initial, CLIENT_IN, 32);
  const l = PACKET_LABELS[profile.label];
  return { key: expand(client, l.key, 16), iv: expand(client, l.iv, 12), hp: expand(client, l.hp, 16) };
}
