/**
 * The frames of a decrypted Initial payload (RFC 9000 §19; Google T05x variant below): only
 * CRYPTO frames are kept, every other frame is skipped by its structure.
 */
import { readVarint } from './varint.js';
import type { Varint } from './varint.js';
import type { QuicReason } from './reasons.js';

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
export function parseFrames(p0: Buffer, frags: CryptoFrag[], gquic = false): QuicReason | undefined {
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
function parseGoogleFrames(p0: Buffer, frags: CryptoFrag[]): QuicReason | undefined {
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
