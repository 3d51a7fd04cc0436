/**
 * Google QUIC Q046: the client's first packet carries the CHLO handshake message in clear
 * (only an integrity hash protects it). A CHLO is a QUIC crypto "tag-value map":
 *
 *   tag "CHLO" (4) | num_entries (u16 LE) | padding (u16) |
 *   num_entries × { tag (4), end_offset (u32 LE) } | values (concatenated, end offsets relative
 *   to the start of the values)
 *
 * The server name is the value of tag "SNI\0". Later Google versions (Q050+) encrypt the
 * Initial; T05x carry TLS and are handled as IETF QUIC. Reading the CHLO is cheap enough to do.
 */
import { printable } from '../tls/parse.js';
import type { QuicReason } from './reasons.js';

export const GQUIC_Q046 = 0x51303436;
const CHLO = Buffer.from('CHLO', 'latin1');
const TAG_SNI = 0x534e4900; // "SNI\0"
/** Real CHLOs carry ~20 tags; anything far larger is not one. */
const MAX_TAGS = 128;
const MAX_SNI = 255;

/** True for a Google QUIC version tag ("Q0xx"), which llmtap only reads for Q046. */
export function isGoogleQVersion(v: number): boolean {
  return v >>> 24 === 0x51 && ((v >>> 16) & 0xff) === 0x30;
}

export type ChloSni = { ok: true; sni?: string } | { ok: false; reason: QuicReason };

/** Look for a CHLO in `buf[start, end)` and return its SNI tag value. */
export function chloSni(buf: Buffer, start: number, end: number): ChloSni {
  const at = buf.subarray(start, end).indexOf(CHLO);
  if (at < 0) return { ok: false, reason: 'quic.gquic_no_chlo' };
  let p = start + at + 4;
  if (p + 4 > end) return { ok: false, reason: 'quic.gquic_truncated' };
  const n = buf.readUInt16LE(p);
  p += 4;
  if (n > MAX_TAGS) return { ok: false, reason: 'quic.gquic_malformed' };
  const values = p + n * 8;
  if (values > end) return { ok: false, reason: 'quic.gquic_truncated' };
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const tag = buf.readUInt32BE(p + i * 8);
    const tagEnd = buf.readUInt32LE(p + i * 8 + 4);
    if (tagEnd < prev) return { ok: false, reason: 'quic.gquic_malformed' };
    if (tag === TAG_SNI) {
      const s = values + prev;
      const e = values + tagEnd;
      if (e > end) return { ok: false, reason: 'quic.gquic_truncated' };
      if (e - s > MAX_SNI || e === s) return { ok: false, reason: 'quic.gquic_malformed' };
      return { ok: true, sni: printable(buf, s, e) };
    }
    prev = tagEnd;
  }
  return { ok: true };
}
