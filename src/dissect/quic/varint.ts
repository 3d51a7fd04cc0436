/** QUIC variable-length integers (RFC 9000 §16). */

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
