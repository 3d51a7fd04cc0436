/**
 * Opaque paging cursors. A cursor is the position in a tenant's change sequence (the last `seq`
 * the client has seen), bound to the tenant and the list it pages, and signed so a client can
 * neither forge a position nor reuse another tenant's cursor:
 *
 *   base64url( version(1) | seq (uint64 BE, 8) | HMAC-SHA256(key, kind|tenant|seq)[0..16) )
 *
 * 25 bytes → 34 characters. Decoding returns a reason instead of throwing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type CursorKind = 'alerts' | 'observations';

const VERSION = 1;
const MAC_BYTES = 16;
const RAW_BYTES = 1 + 8 + MAC_BYTES;
/** Longest text a valid cursor can be; anything longer is rejected before decoding. */
export const CURSOR_MAX_CHARS = 64;

export class CursorCodec {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length < 16) throw new Error('cursor key must be at least 16 bytes');
    this.#key = Buffer.from(key);
  }

  #mac(kind: CursorKind, tenant: string, seq: bigint): Buffer {
    return createHmac('sha256', this.#key)
      .update(`${kind}\u0000${tenant}\u0000${seq.toString()}`)
      .digest()
      .subarray(0, MAC_BYTES);
  }

  encode(kind: CursorKind, tenant: string, seq: number): string {
    const s = BigInt(seq);
    const raw = Buffer.alloc(RAW_BYTES);
    raw.writeUInt8(VERSION, 0);
    raw.writeBigUInt64BE(s, 1);
    this.#mac(kind, tenant, s).copy(raw, 9);
    return raw.toString('base64url');
  }

  /** The seq the cursor stands for, or a reason it is not acceptable. */
  decode(
    kind: CursorKind,
    tenant: string,
    text: string,
  ): { ok: true; seq: number } | { ok: false; reason: string } {
    if (text.length === 0 || text.length > CURSOR_MAX_CHARS || !/^[A-Za-z0-9_-]+$/.test(text)) {
      return { ok: false, reason: 'cursor.malformed' };
    }
    const raw = Buffer.from(text, 'base64url');
    if (raw.length !== RAW_BYTES) return { ok: false, reason: 'cursor.bad_length' };
    if (raw.readUInt8(0) !== VERSION) return { ok: false, reason: 'cursor.bad_version' };
    const s = raw.readBigUInt64BE(1);
    const want = this.#mac(kind, tenant, s);
    if (!timingSafeEqual(want, raw.subarray(9))) return { ok: false, reason: 'cursor.bad_signature' };
    if (s > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: 'cursor.out_of_range' };
    return { ok: true, seq: Number(s) };
  }
}
