/**
 * JA4 TLS client fingerprint (the BSD-licensed JA4 method, TLS client part only), written
 * from the public specification (FoxIO `technical_details/JA4.md`):
 *
 *   a = transport(t|q) + version(2) + sni(d|i) + ciphers(2) + extensions(2) + alpn(2)
 *   b = sha256("cipher,cipher,...")[0..12]        ciphers sorted, GREASE removed
 *   c = sha256("ext,ext,..._sig,sig,...")[0..12]  extensions sorted, GREASE, SNI (0000) and
 *       ALPN (0010) removed; signature algorithms in wire order; no "_" when there are none
 *   JA4 = a_b_c
 *
 * - version: the highest non-GREASE supported_versions entry, else legacy_version.
 * - counts ignore GREASE, extensions include SNI and ALPN, capped at 99.
 * - alpn: first and last character of the first ALPN value; "00" without ALPN. When either
 *   end is not ASCII alphanumeric, the first and last character of that value's hex.
 * - an empty list hashes to "000000000000".
 */
import { createHash, hash as oneShotHash } from 'node:crypto';
import type { Handshake } from '../records.js';
import { EXT_ALPN, EXT_SERVER_NAME, isGrease } from './tls/parse.js';
import type { ClientHello } from './tls/parse.js';

const VERSION_CODES: ReadonlyMap<number, string> = new Map([
  [0x0304, '13'],
  [0x0303, '12'],
  [0x0302, '11'],
  [0x0301, '10'],
  [0x0300, 's3'],
  [0x0200, 's2'],
  [0x0100, 's1'],
  [0xfeff, 'd1'],
  [0xfefd, 'd2'],
  [0xfefc, 'd3'],
]);

const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex4(v: number): string {
  return (HEX2[(v >> 8) & 0xff] ?? '00') + (HEX2[v & 0xff] ?? '00');
}

/** Comma-joined 4-digit hex of `vals` (numeric order equals hex order at fixed width). */
function hexList(vals: number[], sort: boolean): string {
  if (sort) vals.sort((a, b) => a - b);
  let s = '';
  for (let i = 0; i < vals.length; i++) s += i === 0 ? hex4(vals[i] ?? 0) : `,${hex4(vals[i] ?? 0)}`;
  return s;
}

function two(n: number): string {
  return n > 99 ? '99' : n < 10 ? `0${n}` : `${n}`;
}

/** One-shot hashing (Node ≥ 20.12) avoids a Hash object per call; createHash otherwise. */
const sha256hex: (s: string) => string =
  typeof oneShotHash === 'function'
    ? (s) => oneShotHash('sha256', s, 'hex')
    : (s) => createHash('sha256').update(s).digest('hex');

function hash12(s: string): string {
  if (s.length === 0) return '000000000000';
  return sha256hex(s).slice(0, 12);
}

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** Highest non-GREASE supported version, else legacy_version (JA4 "TLS Version"). */
export function ja4Version(hello: ClientHello): number {
  let best = -1;
  for (const v of hello.supportedVersions) if (!isGrease(v) && v > best) best = v;
  return best >= 0 ? best : hello.legacyVersion;
}

/** Bytes of an ALPN value as parsed (undo the \xHH escaping of non-printable bytes). */
function alpnBytes(value: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const ch = value.charCodeAt(i);
    if (ch === 0x5c && value[i + 1] === 'x' && i + 3 < value.length) {
      out.push(parseInt(value.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      out.push(ch);
    }
  }
  return out;
}

/**
 * The two characters of JA4's ALPN code, packed as one number (7 bits each; both are ASCII):
 * first and last character of the first ALPN value, "00" without one, the first and last hex
 * digit of its bytes when either end is not alphanumeric.
 */
function alpnChars(hello: ClientHello): number {
  const first = hello.alpn[0];
  if (first === undefined || first.length === 0) return (0x30 << 7) | 0x30;
  // Common case: no escaped byte (no backslash), so the characters are the bytes.
  if (first.indexOf('\\') < 0) {
    const a = first.charCodeAt(0);
    const z = first.charCodeAt(first.length - 1);
    if (isAlnum(a) && isAlnum(z)) return (a << 7) | z;
  }
  const bytes = alpnBytes(first);
  const a = bytes[0] ?? 0;
  const z = bytes[bytes.length - 1] ?? 0;
  if (isAlnum(a) && isAlnum(z)) return (a << 7) | z;
  const h = Buffer.from(bytes).toString('hex');
  return (h.charCodeAt(0) << 7) | h.charCodeAt(h.length - 1);
}

/** JA4_a: transport, version, SNI present, the two counts (capped at 99), the ALPN code. */
function ja4a(transport: 't' | 'q', version: number, sni: boolean, ciphers: number, exts: number, alpn: number): string {
  const v = VERSION_CODES.get(version) ?? '00';
  return `${transport}${v}${sni ? 'd' : 'i'}${two(ciphers)}${two(exts)}${String.fromCharCode(alpn >> 7, alpn & 0x7f)}`;
}

/**
 * JA4_b and JA4_c depend only on the sets of ciphers and extensions (JA4 sorts both, and drops
 * GREASE) and the signature algorithms in wire order, which a client stack repeats on every
 * connection. Chromium shuffles its extension order and GREASE values per connection, so the
 * cache key is order-insensitive for ciphers and extensions (a sum and an xor of mixed values)
 * and ordered for signature algorithms; 64 bits of key folded to 53, bounded, cleared when
 * full. Keying on the wire order instead missed on nearly every Chromium hello (measured:
 * JA4 was a third of the dissect cost on the benchmark capture).
 *
 * JA4_a is a function of a few small numbers (transport, version, SNI present, the two
 * counts, the two ALPN characters), packed exactly into `aKey`; each `b_c` entry keeps the
 * whole fingerprints made for the JA4_a values seen with it, so a repeat hello builds no
 * string at all.
 */
const BC_CACHE_MAX = 4096;
/** Distinct JA4_a values kept per `b_c` entry (a stack sends one or two: with and without SNI). */
const A_PER_BC = 8;

interface BcEntry {
  bc: string;
  aKeys: number[];
  full: string[];
}
const bcCache = new Map<number, BcEntry>();

function mix32(v: number): number {
  let x = Math.imul(v ^ 0x9e3779b9, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** JA4_a counts gathered by `listKey` on its way (non-GREASE ciphers, extensions, SNI present). */
let scanCiphers = 0;
let scanExts = 0;
let scanSni = false;

function listKey(hello: ClientHello): number {
  let cSum = 0;
  let cXor = 0;
  let nC = 0;
  const cs = hello.cipherSuites;
  for (let i = 0; i < cs.length; i++) {
    const v = cs[i] ?? 0;
    if (isGrease(v)) continue;
    const x = mix32(v);
    cSum = (cSum + x) >>> 0;
    cXor ^= (x << 7) | (x >>> 25);
    nC++;
  }
  let eSum = 0;
  let eXor = 0;
  let nE = 0;
  let nAll = 0;
  let sni = false;
  const es = hello.extensions;
  for (let i = 0; i < es.length; i++) {
    const v = es[i] ?? 0;
    if (isGrease(v)) continue;
    nAll++;
    if (v === EXT_SERVER_NAME) {
      sni = true;
      continue;
    }
    if (v === EXT_ALPN) continue;
    const x = mix32(v + 0x10000);
    eSum = (eSum + x) >>> 0;
    eXor ^= (x << 11) | (x >>> 21);
    nE++;
  }
  let sH = 0x811c9dc5;
  const ss = hello.signatureAlgorithms;
  for (let i = 0; i < ss.length; i++) {
    const v = ss[i] ?? 0;
    if (isGrease(v)) continue;
    sH = Math.imul(sH ^ v, 0x01000193);
  }
  scanCiphers = nC;
  scanExts = nAll;
  scanSni = sni;
  const h1 = mix32(cSum ^ mix32(eSum + nE) ^ Math.imul(nC, 0x27d4eb2d));
  const h2 = mix32((cXor ^ eXor ^ sH) >>> 0);
  return (h1 >>> 0) * 0x200000 + (h2 & 0x1fffff);
}

export function ja4(hello: ClientHello, transport: 't' | 'q'): string {
  const key = listKey(hello);
  const version = ja4Version(hello) & 0xffff;
  const alpn = alpnChars(hello);
  // exact: 1 + 16 + 1 + 7 + 7 + 14 = 46 bits
  const ak =
    (transport === 'q' ? 1 : 0) * 2 ** 45 +
    version * 2 ** 29 +
    (scanSni ? 1 : 0) * 2 ** 28 +
    Math.min(scanCiphers, 99) * 2 ** 21 +
    Math.min(scanExts, 99) * 2 ** 14 +
    alpn;
  let e = bcCache.get(key);
  if (e === undefined) {
    if (bcCache.size >= BC_CACHE_MAX) bcCache.clear();
    e = { bc: ja4Parts(hello).bc, aKeys: [], full: [] };
    bcCache.set(key, e);
  }
  const keys = e.aKeys;
  for (let i = 0; i < keys.length; i++) if (keys[i] === ak) return e.full[i] ?? '';
  const full = `${ja4a(transport, version, scanSni, scanCiphers, scanExts, alpn)}_${e.bc}`;
  if (keys.length < A_PER_BC) {
    keys.push(ak);
    e.full.push(full);
  }
  return full;
}

/** The full computation (uncached): JA4_a for TCP and the `b_c` parts. */
export function ja4Parts(hello: ClientHello): { a: string; bc: string } {
  const ciphers: number[] = [];
  for (const c of hello.cipherSuites) if (!isGrease(c)) ciphers.push(c);
  let extCount = 0;
  let hasSni = false;
  const exts: number[] = [];
  for (const e of hello.extensions) {
    if (isGrease(e)) continue;
    extCount++;
    if (e === EXT_SERVER_NAME) hasSni = true;
    else if (e !== EXT_ALPN) exts.push(e);
  }
  const sigs: number[] = [];
  for (const v of hello.signatureAlgorithms) if (!isGrease(v)) sigs.push(v);
  const a = ja4a('t', ja4Version(hello), hasSni, ciphers.length, extCount, alpnChars(hello));
  const b = hash12(hexList(ciphers, true));
  const extList = hexList(exts, true);
  const c = extList.length === 0 ? '000000000000' : hash12(sigs.length > 0 ? `${extList}_${hexList(sigs, false)}` : extList);
  return { a, bc: `${b}_${c}` };
}

function hexText(v: number, digits: number): string {
  return `0x${v.toString(16).padStart(digits, '0')}`;
}

/** "0xXXXX" texts of the few version numbers hellos carry, made once each (bounded). */
const HEX4_CACHE = new Map<number, string>();

function hex4Text(v: number): string {
  let s = HEX4_CACHE.get(v);
  if (s === undefined) {
    s = hexText(v, 4);
    if (HEX4_CACHE.size < 1024) HEX4_CACHE.set(v, s);
  }
  return s;
}

/** The Handshake record for one parsed ClientHello (`hellos` = 1; the flow state counts more). */
export function toHandshake(hello: ClientHello, transport: 'tls' | 'quic', quicVersion?: number): Handshake {
  const hs: Handshake = {
    transport,
    legacyVersion: hex4Text(hello.legacyVersion),
    ja4: ja4(hello, transport === 'quic' ? 'q' : 't'),
    esni: hello.esni,
    hellos: 1,
  };
  if (hello.sni !== undefined) hs.sni = hello.sni;
  if (hello.sniAll.length > 1) hs.sniAll = hello.sniAll.slice();
  if (hello.alpn.length > 0) hs.alpn = hello.alpn.slice();
  let versions: string[] | undefined;
  for (const v of hello.supportedVersions) {
    if (isGrease(v)) continue;
    (versions ??= []).push(hex4Text(v));
  }
  if (versions !== undefined) hs.tlsVersions = versions;
  if (hello.ech !== undefined) hs.ech = hello.ech;
  if (quicVersion !== undefined) hs.quicVersion = hexText(quicVersion >>> 0, 8);
  return hs;
}
