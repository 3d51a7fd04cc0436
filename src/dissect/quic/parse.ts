/**
 * QUIC long-header parsing, Initial header-protection removal and payload decryption
 * (RFC 9000 §17.2; RFC 9001 §5.3–5.4; RFC 9369 §3). Frames are in frames.ts.
 *
 * Pure functions over `(buf, start, end)`: nothing here keeps a reference to the capture bytes.
 * Decryption output is a fresh buffer owned by the caller.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { InitialKeys } from './keys.js';
import { readVarint } from './varint.js';
import type { Varint } from './varint.js';
import type { QuicReason } from './reasons.js';

/**
 * Long Header Packet {
 *   Header Form (1) = 1, Fixed Bit (1), Long Packet Type (2), Type-Specific Bits (4),
 *   Version (32), DCID Length (8), DCID (0..160), SCID Length (8), SCID (0..160),
 *   -- Initial: Token Length (i), Token (..), Length (i), Packet Number (8..32), Payload (..)
 * }
 */
export interface LongHeader {
  first: number;
  version: number;
  /** The two Long Packet Type bits (meaning depends on the version). */
  typeBits: number;
  dcidOff: number;
  dcidLen: number;
  scidOff: number;
  scidLen: number;
}

/** Largest connection ID of QUIC v1/v2 (RFC 9000 §17.2); drafts used the same bound. */
export const MAX_CID_LEN = 20;
/** AEAD tag of AES-128-GCM. */
const TAG_LEN = 16;
/** Header protection sample size (RFC 9001 §5.4.2). */
const SAMPLE_LEN = 16;

export type Result<T> = { ok: true; value: T } | { ok: false; reason: QuicReason };

function fail<T>(reason: QuicReason): Result<T> {
  return { ok: false, reason };
}

/** Parse the version-independent part of a long header (RFC 8999 §5.1). */
export function parseLongHeader(buf: Buffer, start: number, end: number): Result<LongHeader> {
  if (end - start < 7) return fail('quic.truncated');
  const first = buf[start] ?? 0;
  if ((first & 0x80) === 0) return fail('quic.short_header');
  const version = buf.readUInt32BE(start + 1);
  let p = start + 5;
  const dcidLen = buf[p] ?? 0;
  p += 1;
  if (dcidLen > MAX_CID_LEN || p + dcidLen + 1 > end) return fail('quic.bad_cid');
  const dcidOff = p;
  p += dcidLen;
  const scidLen = buf[p] ?? 0;
  p += 1;
  if (scidLen > MAX_CID_LEN || p + scidLen > end) return fail('quic.bad_cid');
  return {
    ok: true,
    value: { first, version, typeBits: (first >> 4) & 0x03, dcidOff, dcidLen, scidOff: p, scidLen },
  };
}

/** Where the Initial's protected fields lie (after Token and Length). */
export interface InitialLayout {
  /** Offset of the (protected) packet number. */
  pnOff: number;
  /** End of this packet inside the datagram (coalesced packets follow, RFC 9000 §12.2). */
  pktEnd: number;
}

/** Walk Token Length, Token and Length of an Initial (RFC 9000 §17.2.2). */
export function initialLayout(buf: Buffer, hdr: LongHeader, end: number): Result<InitialLayout> {
  const v: Varint = { value: 0, len: 0 };
  let p = hdr.scidOff + hdr.scidLen;
  readVarint(buf, p, end, v);
  if (v.len === 0) return fail('quic.truncated');
  p += v.len;
  if (v.value > end - p) return fail('quic.bad_token');
  p += v.value;
  readVarint(buf, p, end, v);
  if (v.len === 0) return fail('quic.truncated');
  p += v.len;
  const pktEnd = p + v.value;
  if (pktEnd > end) return fail('quic.truncated');
  if (v.value < 4 + SAMPLE_LEN) return fail('quic.truncated');
  return { ok: true, value: { pnOff: p, pktEnd } };
}

/** Any long-header packet's end (for skipping coalesced 0-RTT/Handshake packets). */
export function longPacketEnd(buf: Buffer, hdr: LongHeader, isInitial: boolean, end: number): number {
  const v: Varint = { value: 0, len: 0 };
  let p = hdr.scidOff + hdr.scidLen;
  if (isInitial) {
    readVarint(buf, p, end, v);
    if (v.len === 0) return end;
    p += v.len + v.value;
  }
  readVarint(buf, p, end, v);
  if (v.len === 0) return end;
  return Math.min(end, p + v.len + v.value);
}

/**
 * Reconstruct a full packet number from its truncated form (RFC 9000 §A.3). `largest` is the
 * largest packet number decrypted so far in this space (-1 if none).
 */
export function decodePacketNumber(largest: number, truncated: number, pnBits: number): number {
  const expected = largest + 1;
  const win = 2 ** pnBits;
  const hwin = win / 2;
  const mask = win - 1;
  const candidate = (expected - (expected % win)) + (truncated & mask);
  if (candidate <= expected - hwin && candidate < 2 ** 62 - win) return candidate + win;
  if (candidate > expected + hwin && candidate >= win) return candidate - win;
  return candidate;
}

export interface Decrypted {
  plaintext: Buffer;
  pn: number;
}

/**
 * Remove header protection (RFC 9001 §5.4.1, AES-based §5.4.3) and decrypt the payload with
 * AES-128-GCM (§5.3: nonce = iv XOR packet number, AAD = the unprotected header).
 */
export function decryptInitial(
  buf: Buffer,
  start: number,
  layout: InitialLayout,
  keys: InitialKeys,
  largestPn: number,
): Result<Decrypted> {
  const { pnOff, pktEnd } = layout;
  const sampleOff = pnOff + 4;
  if (sampleOff + SAMPLE_LEN > pktEnd) return fail('quic.truncated');
  let ecb = keys.hpCipher;
  if (ecb === undefined) {
    ecb = createCipheriv('aes-128-ecb', keys.hp, null);
    ecb.setAutoPadding(false);
    keys.hpCipher = ecb;
  }
  const mask = ecb.update(buf.subarray(sampleOff, sampleOff + SAMPLE_LEN));
  const first = (buf[start] ?? 0) ^ ((mask[0] ?? 0) & 0x0f);
  const pnLen = (first & 0x03) + 1;
  const payloadOff = pnOff + pnLen;
  if (payloadOff + TAG_LEN > pktEnd) return fail('quic.truncated');

  const header = Buffer.from(buf.subarray(start, payloadOff));
  header[0] = first;
  let truncated = 0;
  for (let i = 0; i < pnLen; i++) {
    const b = (buf[pnOff + i] ?? 0) ^ (mask[1 + i] ?? 0);
    header[pnOff - start + i] = b;
    truncated = truncated * 256 + b;
  }
  const pn = decodePacketNumber(largestPn, truncated, pnLen * 8);

  const nonce = Buffer.from(keys.iv);
  let x = pn;
  for (let i = 11; i >= 4 && x > 0; i--) {
    nonce[i] = (nonce[i] ?? 0) ^ (x % 256);
    x = Math.floor(x / 256);
  }
  const decipher = createDecipheriv('aes-128-gcm', keys.key, nonce);
  decipher.setAAD(header);
  decipher.setAuthTag(buf.subarray(pktEnd - TAG_LEN, pktEnd));
  const body = decipher.update(buf.subarray(payloadOff, pktEnd - TAG_LEN));
  try {
    // Node reports a failed tag check only by throwing; this is the one catch on this path and
    // it runs at most a few times per flow (Initial packets only).
    const tail = decipher.final();
    return { ok: true, value: { plaintext: tail.length > 0 ? Buffer.concat([body, tail]) : body, pn } };
  } catch {
    return fail('quic.decrypt_failed');
  }
}

export { parseFrames } from './frames.js';
export type { CryptoFrag } from './frames.js';
