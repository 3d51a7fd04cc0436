/**
 * HMAC-SHA-256 (RFC 2104) over SHA-256 (FIPS 180-4 §6.2) for the short inputs of QUIC Initial
 * key derivation: keys up to 64 bytes, messages up to 55 bytes (one block after the key pad).
 *
 * Why not node:crypto: deriving one connection's Initial keys is five HMACs, and creating a
 * Node Hmac object costs ~2 µs each (~15 µs per connection, measured in
 * bench/micro/quic-keys.mjs). Here the padded key states are computed once per key (the version
 * salts once per process) and each HMAC is two compressions into reused typed arrays.
 * RFC 9001 Appendix A and RFC 9369 Appendix A vectors are the tests.
 */

/** FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** FIPS 180-4 §5.3.3: initial hash value. */
const H0 = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

/** Longest message `hmac` takes: 64 − 1 (0x80) − 8 (bit length) bytes fit one block. */
export const MAX_HMAC_MSG = 55;
/** Longest key `hmacKey` takes (longer keys are hashed first in RFC 2104; not needed here). */
export const MAX_HMAC_KEY = 64;

const W = new Int32Array(64);
const BLOCK = new Uint8Array(64);
const STATE = new Int32Array(8);

function rotr(x: number, n: number): number {
  return (x >>> n) | (x << (32 - n));
}

/** One SHA-256 compression of the 64-byte `blk` into `st` (FIPS 180-4 §6.2.2). */
function compress(st: Int32Array, blk: Uint8Array): void {
  const w = W;
  for (let i = 0; i < 16; i++) {
    const j = i * 4;
    w[i] = ((blk[j] ?? 0) << 24) | ((blk[j + 1] ?? 0) << 16) | ((blk[j + 2] ?? 0) << 8) | (blk[j + 3] ?? 0);
  }
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15] ?? 0;
    const y = w[i - 2] ?? 0;
    const s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3);
    const s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10);
    w[i] = ((w[i - 16] ?? 0) + s0 + (w[i - 7] ?? 0) + s1) | 0;
  }
  let a = st[0] ?? 0;
  let b = st[1] ?? 0;
  let c = st[2] ?? 0;
  let d = st[3] ?? 0;
  let e = st[4] ?? 0;
  let f = st[5] ?? 0;
  let g = st[6] ?? 0;
  let h = st[7] ?? 0;
  for (let i = 0; i < 64; i++) {
    const S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + (K[i] ?? 0) + (w[i] ?? 0)) | 0;
    const S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  st[0] = ((st[0] ?? 0) + a) | 0;
  st[1] = ((st[1] ?? 0) + b) | 0;
  st[2] = ((st[2] ?? 0) + c) | 0;
  st[3] = ((st[3] ?? 0) + d) | 0;
  st[4] = ((st[4] ?? 0) + e) | 0;
  st[5] = ((st[5] ?? 0) + f) | 0;
  st[6] = ((st[6] ?? 0) + g) | 0;
  st[7] = ((st[7] ?? 0) + h) | 0;
}

/** The states after the key's inner and outer pad blocks (RFC 2104 §2). */
export interface HmacKey {
  inner: Int32Array;
  outer: Int32Array;
}

/** Pad states of `key` (at most 64 bytes). */
export function hmacKey(key: Uint8Array): HmacKey {
  const inner = H0.slice();
  const outer = H0.slice();
  const blk = BLOCK;
  for (let i = 0; i < 64; i++) blk[i] = (key[i] ?? 0) ^ 0x36;
  compress(inner, blk);
  for (let i = 0; i < 64; i++) blk[i] = (key[i] ?? 0) ^ 0x5c;
  compress(outer, blk);
  return { inner, outer };
}

/** Final block of a message that follows one 64-byte block: `len` bytes, 0x80, zeros, bit length. */
function lastBlock(blk: Uint8Array, len: number): void {
  blk[len] = 0x80;
  blk.fill(0, len + 1, 56);
  const bits = (64 + len) * 8;
  blk[56] = 0;
  blk[57] = 0;
  blk[58] = 0;
  blk[59] = 0;
  blk[60] = bits >>> 24;
  blk[61] = (bits >>> 16) & 255;
  blk[62] = (bits >>> 8) & 255;
  blk[63] = bits & 255;
}

function putState(st: Int32Array, out: Uint8Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = st[i >> 2] ?? 0;
    out[i] = (x >>> (24 - 8 * (i & 3))) & 255;
  }
}

/**
 * HMAC-SHA-256 of `msg[off, off + len)` (len ≤ 55) under `k`; the first `out.length` (≤ 32)
 * bytes of the tag are written to `out`.
 */
export function hmac(k: HmacKey, msg: Uint8Array, off: number, len: number, out: Uint8Array): void {
  const blk = BLOCK;
  const st = STATE;
  st.set(k.inner);
  for (let i = 0; i < len; i++) blk[i] = msg[off + i] ?? 0;
  lastBlock(blk, len);
  compress(st, blk);
  putState(st, blk, 32);
  lastBlock(blk, 32);
  st.set(k.outer);
  compress(st, blk);
  putState(st, out, Math.min(32, out.length));
}
