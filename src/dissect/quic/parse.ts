/**
 * QUIC long-header parsing, Initial header-protection removal and payload decryption, and the
 * frames of an Initial payload (RFC 9000 §17.2, §19; RFC 9001 §5.3–5.4; RFC 9369 §3).
 *
 * Pure functions over `(buf, start, end)`: nothing here keeps a reference to the capture bytes.
 * Decryption output is a fresh buffer owned by the caller.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { InitialKeys } from './keys.js';

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

export type Result<T> = { ok: true; value: T } | { ok: false; reason: string };

function fail<T>(reason: string): Result<T> {
  return { ok: false, reason };
}

/** A QUIC variable-length integer (RFC 9000 §16) at `p`; `len` 0 when it does not fit. */
export interface Varint {
  value: number;
  len: number;
}

export function readVarint(buf: Buffer, p: number, end: number, out: Varint): void {
  if (p >= end) {
    out.len = 0;
    return;
  }
  const b0 = buf[p] ?? 0;
  const len = 1 << (b0 >> 6);
  if (p + len > end) {
    out.len = 0;
    return;
  }
  let v = b0 & 0x3f;
  for (let i = 1; i < len; i++) v = v * 256 + (buf[p + i] ?? 0);
  out.value = v;
  out.len = len;
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
  const ecb = createCipheriv('aes-128-ecb', keys.hp, null);
  ecb.setAutoPadding(false);
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

/** One CRYPTO frame: stream offset and where its data lies in the plaintext. */
export interface CryptoFrag {
  offset: number;
  start: number;
  end: number;
}

/**
 * Walk the frames of a decrypted Initial payload (RFC 9000 §19) and collect CRYPTO frames.
 * Frames that may appear in an Initial (§12.4 Table 3: PADDING, PING, ACK, CRYPTO,
 * CONNECTION_CLOSE) are skipped by their structure, as are the other RFC 9000 frames in case a
 * sender misbehaves; an unknown type stops the walk (its length cannot be known) and is
 * reported, keeping the CRYPTO frames read before it.
 */
export function parseFrames(p0: Buffer, frags: CryptoFrag[], gquic = false): string | undefined {
  if (gquic) return parseGoogleFrames(p0, frags);
  const end = p0.length;
  const v: Varint = { value: 0, len: 0 };
  let p = 0;
  // Read `n` varints, returning false when truncated; the last value is left in v.
  const skipVarints = (n: number): boolean => {
    for (let i = 0; i < n; i++) {
      readVarint(p0, p, end, v);
      if (v.len === 0) return false;
      p += v.len;
    }
    return true;
  };
  while (p < end) {
    const t = p0[p] ?? 0;
    if (t === 0x00) {
      p++; // PADDING
      continue;
    }
    readVarint(p0, p, end, v);
    if (v.len === 0) return 'quic.frame_truncated';
    const type = v.value;
    p += v.len;
    if (type === 0x01 || type === 0x1e) continue; // PING, HANDSHAKE_DONE
    if (type === 0x02 || type === 0x03) {
      // ACK: Largest, Delay, Range Count, First Range, (Gap, Length)*, [ECT0, ECT1, CE]
      if (!skipVarints(3)) return 'quic.frame_truncated';
      const ranges = v.value;
      if (!skipVarints(1)) return 'quic.frame_truncated';
      if (ranges > end) return 'quic.frame_malformed';
      if (!skipVarints(ranges * 2 + (type === 0x03 ? 3 : 0))) return 'quic.frame_truncated';
      continue;
    }
    if (type === 0x06) {
      // CRYPTO: Offset (i), Length (i), Crypto Data (..)
      if (!skipVarints(1)) return 'quic.frame_truncated';
      const offset = v.value;
      if (!skipVarints(1)) return 'quic.frame_truncated';
      const len = v.value;
      if (len > end - p) return 'quic.frame_truncated';
      frags.push({ offset, start: p, end: p + len });
      p += len;
      continue;
    }
    if (type >= 0x08 && type <= 0x0f) {
      // STREAM: Stream ID, [Offset], [Length], data to the end when no Length.
      if (!skipVarints(1 + (type & 0x04 ? 1 : 0))) return 'quic.frame_truncated';
      if ((type & 0x02) === 0) return undefined;
      if (!skipVarints(1)) return 'quic.frame_truncated';
      if (v.value > end - p) return 'quic.frame_truncated';
      p += v.value;
      continue;
    }
    const fixed = FIXED_VARINTS[type];
    if (fixed !== undefined) {
      if (!skipVarints(fixed)) return 'quic.frame_truncated';
      continue;
    }
    let n: number;
    switch (type) {
      case 0x07: // NEW_TOKEN: Token Length, Token
      case 0x31: // DATAGRAM with Length (RFC 9221)
        if (!skipVarints(1)) return 'quic.frame_truncated';
        n = v.value;
        break;
      case 0x18: {
        // NEW_CONNECTION_ID: Seq, Retire Prior To, Length (8), CID, Reset Token (128)
        if (!skipVarints(2)) return 'quic.frame_truncated';
        n = (p0[p] ?? 0) + 1 + 16;
        break;
      }
      case 0x1a: // PATH_CHALLENGE
      case 0x1b: // PATH_RESPONSE
        n = 8;
        break;
      case 0x1c: // CONNECTION_CLOSE: Error Code, Frame Type, Reason Length, Reason
        if (!skipVarints(3)) return 'quic.frame_truncated';
        n = v.value;
        break;
      case 0x1d: // CONNECTION_CLOSE (application): Error Code, Reason Length, Reason
        if (!skipVarints(2)) return 'quic.frame_truncated';
        n = v.value;
        break;
      case 0x30: // DATAGRAM without Length: to the end of the packet
        return undefined;
      default:
        return 'quic.unknown_frame';
    }
    if (n > end - p) return 'quic.frame_truncated';
    p += n;
  }
  return undefined;
}

/** Frames made of a fixed number of varints after the type (RFC 9000 §19). */
const FIXED_VARINTS: Record<number, number> = {
  0x04: 3, // RESET_STREAM
  0x05: 2, // STOP_SENDING
  0x10: 1, // MAX_DATA
  0x11: 2, // MAX_STREAM_DATA
  0x12: 1, // MAX_STREAMS (bidi)
  0x13: 1, // MAX_STREAMS (uni)
  0x14: 1, // DATA_BLOCKED
  0x15: 2, // STREAM_DATA_BLOCKED
  0x16: 1, // STREAMS_BLOCKED (bidi)
  0x17: 1, // STREAMS_BLOCKED (uni)
  0x19: 1, // RETIRE_CONNECTION_ID
};

/**
 * Google QUIC T05x frames inside a decrypted Initial: PADDING 0x00, PING 0x07 and
 * CRYPTO 0x08 { Offset (i), Length (i), Data } (the IETF layout under Google's type number).
 * Anything else ends the walk quietly: Google's other frames are not needed for the hello.
 */
function parseGoogleFrames(p0: Buffer, frags: CryptoFrag[]): string | undefined {
  const end = p0.length;
  const v: Varint = { value: 0, len: 0 };
  let p = 0;
  while (p < end) {
    const t = p0[p] ?? 0;
    p++;
    if (t === 0x00 || t === 0x07) continue;
    if (t !== 0x08) return undefined;
    readVarint(p0, p, end, v);
    if (v.len === 0) return 'quic.frame_truncated';
    p += v.len;
    const offset = v.value;
    readVarint(p0, p, end, v);
    if (v.len === 0) return 'quic.frame_truncated';
    p += v.len;
    if (v.value > end - p) return 'quic.frame_truncated';
    frags.push({ offset, start: p, end: p + v.value });
    p += v.value;
  }
  return undefined;
}
