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
import { createHash } from 'node:crypto';
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

function hex4(v: number): string {
  return v.toString(16).padStart(4, '0');
}

function two(n: number): string {
  return n > 99 ? '99' : n.toString().padStart(2, '0');
}

function hash12(s: string): string {
  if (s.length === 0) return '000000000000';
  return createHash('sha256').update(s).digest('hex').slice(0, 12);
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

function alpnCode(hello: ClientHello): string {
  const first = hello.alpn[0];
  if (first === undefined || first.length === 0) return '00';
  const bytes = alpnBytes(first);
  const a = bytes[0] ?? 0;
  const z = bytes[bytes.length - 1] ?? 0;
  if (isAlnum(a) && isAlnum(z)) return String.fromCharCode(a) + String.fromCharCode(z);
  const h = Buffer.from(bytes).toString('hex');
  return (h[0] ?? '0') + (h[h.length - 1] ?? '0');
}

export function ja4(hello: ClientHello, transport: 't' | 'q'): string {
  const ciphers = hello.cipherSuites.filter((c) => !isGrease(c));
  const exts = hello.extensions.filter((e) => !isGrease(e));
  const version = VERSION_CODES.get(ja4Version(hello)) ?? '00';
  const sni = exts.includes(EXT_SERVER_NAME) ? 'd' : 'i';
  const a = `${transport}${version}${sni}${two(ciphers.length)}${two(exts.length)}${alpnCode(hello)}`;

  const b = hash12(
    ciphers
      .map(hex4)
      .sort()
      .join(','),
  );
  const extList = exts
    .filter((e) => e !== EXT_SERVER_NAME && e !== EXT_ALPN)
    .map(hex4)
    .sort()
    .join(',');
  const sigs = hello.signatureAlgorithms.filter((s) => !isGrease(s)).map(hex4).join(',');
  const c = extList.length === 0 ? '000000000000' : hash12(sigs.length > 0 ? `${extList}_${sigs}` : extList);
  return `${a}_${b}_${c}`;
}

function hexText(v: number, digits: number): string {
  return `0x${v.toString(16).padStart(digits, '0')}`;
}

/** The Handshake record for one parsed ClientHello (`hellos` = 1; the flow state counts more). */
export function toHandshake(hello: ClientHello, transport: 'tls' | 'quic', quicVersion?: number): Handshake {
  const hs: Handshake = {
    transport,
    legacyVersion: hexText(hello.legacyVersion, 4),
    ja4: ja4(hello, transport === 'quic' ? 'q' : 't'),
    esni: hello.esni,
    hellos: 1,
  };
  if (hello.sni !== undefined) hs.sni = hello.sni;
  if (hello.sniAll.length > 1) hs.sniAll = hello.sniAll.slice();
  if (hello.alpn.length > 0) hs.alpn = hello.alpn.slice();
  const versions = hello.supportedVersions.filter((v) => !isGrease(v));
  if (versions.length > 0) hs.tlsVersions = versions.map((v) => hexText(v, 4));
  if (hello.ech !== undefined) hs.ech = hello.ech;
  if (quicVersion !== undefined) hs.quicVersion = hexText(quicVersion >>> 0, 8);
  return hs;
}
