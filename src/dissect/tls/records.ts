/**
 * TLS record layer over a contiguous client byte stream (RFC 8446 §5.1, RFC 5246 §6.2.1):
 *   ContentType type(1) | ProtocolVersion legacy_record_version(2) | uint16 length | fragment
 * Handshake messages may be fragmented over several records of type handshake(22); records of
 * other types must not be interleaved with such fragments (RFC 8446 §5.1).
 */
import type { TlsReason } from '../reasons.js';

export const CT_CHANGE_CIPHER_SPEC = 20;
export const CT_ALERT = 21;
export const CT_HANDSHAKE = 22;
export const CT_APPLICATION_DATA = 23;
export const RECORD_HEADER_LEN = 5;
/** TLSPlaintext.length limit (RFC 8446 §5.1). */
export const MAX_PLAINTEXT = 1 << 14;
/** TLSCiphertext.length limit (RFC 8446 §5.2). */
export const MAX_CIPHERTEXT = (1 << 14) + 256;

/** A record header at `off` with a TLS 1.x record version (0x0300..0x0304). */
export function isRecordHeader(buf: Buffer, off: number, len: number): boolean {
  if (len < RECORD_HEADER_LEN) return false;
  const t = buf[off] ?? 0;
  return t >= CT_CHANGE_CIPHER_SPEC && t <= CT_APPLICATION_DATA && buf[off + 1] === 3 && (buf[off + 2] ?? 9) <= 4;
}

/** A handshake record whose first message byte is ClientHello(1): the start of a TLS client stream. */
export function looksLikeHelloRecord(buf: Buffer, off: number, len: number): boolean {
  return len >= 6 && buf[off] === CT_HANDSHAKE && isRecordHeader(buf, off, len) && buf[off + 5] === 1;
}

export function recordLen(buf: Buffer, off: number): number {
  return ((buf[off + 3] ?? 0) << 8) | (buf[off + 4] ?? 0);
}

/**
 * Result of gathering one handshake message that starts at the record at `off`:
 * `need` > 0: more stream bytes are needed; otherwise `msgOff/msgLen` locate the whole message
 * (header included) in `buf` (in place, one record) or in `copy` (split over records), and
 * `consumed` is the number of stream bytes of the records that carried it.
 */
export interface Gathered {
  need: number;
  reason: TlsReason | null;
  buf: Buffer | null;
  msgOff: number;
  msgLen: number;
  consumed: number;
  records: number;
}

/**
 * Locate the handshake message starting in the handshake record at `off` (bytes `[off, end)`
 * available). Copies only when the message spans records. `maxMsg` bounds the message size.
 */
export function gatherHandshake(buf: Buffer, off: number, end: number, maxMsg: number, out: Gathered): Gathered {
  out.need = 0;
  out.reason = null;
  out.buf = null;
  out.records = 0;
  out.msgOff = 0;
  out.msgLen = 0;
  out.consumed = 0;
  // Fast case: the whole message inside the first record.
  const r0Len = recordLen(buf, off);
  if (r0Len > MAX_PLAINTEXT) {
    out.reason = 'tls.record_too_large';
    return out;
  }
  const body0 = off + RECORD_HEADER_LEN;
  if (r0Len >= 4 && body0 + 4 <= end) {
    const mlen = (((buf[body0 + 1] ?? 0) << 16) | ((buf[body0 + 2] ?? 0) << 8) | (buf[body0 + 3] ?? 0)) + 4;
    if (mlen > maxMsg) {
      out.reason = 'tls.hello_too_large';
      return out;
    }
    if (mlen <= r0Len) {
      if (body0 + r0Len > end) {
        out.need = body0 + r0Len - end;
        return out;
      }
      out.buf = buf;
      out.msgOff = body0;
      out.msgLen = mlen;
      out.consumed = RECORD_HEADER_LEN + r0Len;
      out.records = 1;
      return out;
    }
  }
  // Split over records: walk them, first to learn the length, then copy the bodies.
  let p = off;
  let have = 0;
  let mlen = -1;
  let records = 0;
  const hdr = [0, 0, 0, 0];
  while (mlen < 0 || have < mlen) {
    if (p + RECORD_HEADER_LEN > end) {
      out.need = p + RECORD_HEADER_LEN - end;
      return out;
    }
    if (buf[p] !== CT_HANDSHAKE || !isRecordHeader(buf, p, end - p)) {
      out.reason = 'tls.hello_malformed';
      return out;
    }
    const rlen = recordLen(buf, p);
    if (rlen > MAX_PLAINTEXT) {
      out.reason = 'tls.record_too_large';
      return out;
    }
    if (p + RECORD_HEADER_LEN + rlen > end) {
      out.need = p + RECORD_HEADER_LEN + rlen - end;
      return out;
    }
    for (let i = 0; i < rlen && have + i < 4; i++) hdr[have + i] = buf[p + RECORD_HEADER_LEN + i] ?? 0;
    have += rlen;
    records++;
    p += RECORD_HEADER_LEN + rlen;
    if (mlen < 0 && have >= 4) {
      mlen = (((hdr[1] ?? 0) << 16) | ((hdr[2] ?? 0) << 8) | (hdr[3] ?? 0)) + 4;
      if (mlen > maxMsg) {
        out.reason = 'tls.hello_too_large';
        return out;
      }
    }
    if (records > 4096) {
      out.reason = 'tls.hello_malformed';
      return out;
    }
  }
  const copy = Buffer.allocUnsafe(mlen);
  let q = off;
  let w = 0;
  while (w < mlen) {
    const rlen = recordLen(buf, q);
    const take = Math.min(rlen, mlen - w);
    buf.copy(copy, w, q + RECORD_HEADER_LEN, q + RECORD_HEADER_LEN + take);
    w += take;
    q += RECORD_HEADER_LEN + rlen;
  }
  out.buf = copy;
  out.msgOff = 0;
  out.msgLen = mlen;
  out.consumed = p - off;
  out.records = records;
  return out;
}

export function newGathered(): Gathered {
  return { need: 0, reason: null, buf: null, msgOff: 0, msgLen: 0, consumed: 0, records: 0 };
}
