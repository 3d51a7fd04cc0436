/**
 * SSL 2.0-compatible ClientHello (RFC 5246 Appendix E.2, RFC 6101 Appendix E):
 *   msg_length(2, high bit set) | msg_type(1)=1 | version(2) | cipher_spec_length(2)
 *   | session_id_length(2) | challenge_length(2) | cipher_specs(3 each) | session_id | challenge
 * Cipher specs whose first byte is 0 carry a TLS cipher suite in the other two bytes. No
 * extensions, so no SNI. Parsed so such hellos are counted and fingerprinted, never a crash.
 */
import { bareHello, type HelloParse } from './parse.js';

/** True when `buf[off..]` starts like an SSLv2-framed ClientHello (2-byte header form). */
export function looksLikeSsl2Hello(buf: Buffer, off: number, len: number): boolean {
  if (len < 5) return false;
  const b0 = buf[off] ?? 0;
  const msgType = buf[off + 2] ?? 0;
  const major = buf[off + 3] ?? 0;
  return (b0 & 0x80) !== 0 && msgType === 1 && (major === 0x00 || major === 0x03);
}

/** Total bytes of the SSLv2 record at `off` (header included). */
export function ssl2RecordLen(buf: Buffer, off: number): number {
  return ((((buf[off] ?? 0) & 0x7f) << 8) | (buf[off + 1] ?? 0)) + 2;
}

export function parseSsl2Hello(buf: Buffer, off: number, len: number): HelloParse {
  if (len < 11) return { ok: false, reason: 'tls.hello_truncated' };
  const total = ssl2RecordLen(buf, off);
  if (total > len) return { ok: false, reason: 'tls.hello_truncated' };
  const u16 = (i: number): number => ((buf[i] ?? 0) << 8) | (buf[i + 1] ?? 0);
  const version = u16(off + 3);
  const specLen = u16(off + 5);
  const sidLen = u16(off + 7);
  const chLen = u16(off + 9);
  const specStart = off + 11;
  if (specLen % 3 !== 0 || specStart + specLen + sidLen + chLen > off + total) {
    return { ok: false, reason: 'tls.hello_malformed' };
  }
  const cipherSuites: number[] = [];
  for (let i = specStart; i < specStart + specLen; i += 3) {
    if (buf[i] === 0) cipherSuites.push(u16(i + 1));
  }
  return { ok: true, hello: bareHello(version, cipherSuites) };
}
