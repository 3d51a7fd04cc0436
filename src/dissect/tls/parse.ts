/**
 * TLS ClientHello parser: pure bytes → fields, in place over `(buf, off, len)`.
 *
 * Wire format (RFC 8446 §4.1.2, same layout in RFC 5246 §7.4.1.2):
 *   msg_type(1)=1 | length(3) | legacy_version(2) | random(32) | legacy_session_id<0..32>
 *   | cipher_suites<2..2^16-2> | legacy_compression_methods<1..2^8-1> | extensions<0..2^16-1>
 * The extensions block may be absent in pre-TLS-1.2 hellos (RFC 5246 §7.4.1.2 "extensions
 * present" rule). Extension bodies used here:
 *   server_name (0)              RFC 6066 §3
 *   signature_algorithms (13)    RFC 8446 §4.2.3
 *   ALPN (16)                    RFC 7301 §3.1
 *   supported_versions (43)      RFC 8446 §4.2.1
 *   encrypted_client_hello (0xfe0d) draft-ietf-tls-esni-22 §5
 *   encrypted_server_name (0xffce)  draft-ietf-tls-esni-02 (presence only)
 *
 * Reports everything and decides nothing; GREASE values (RFC 8701) are kept so callers (JA4)
 * can drop them where their method says so. A malformed header returns a reason; a malformed
 * extension stops the walk and sets `malformed`, keeping what came before. Never throws.
 */
import { classifyEch, refineEch } from './ech.js';
import type { TlsReason } from '../reasons.js';

export interface ClientHello {
  /** legacy_version, e.g. 0x0303. */
  legacyVersion: number;
  /** Cipher suites in wire order, GREASE included. */
  cipherSuites: number[];
  /** Extension types in wire order, GREASE included. */
  extensions: number[];
  /** First host_name of server_name, as sent (non-printable bytes escaped as \xHH). */
  sni?: string;
  /** Every host_name entry (of this hello; the flow state appends later hellos' names). */
  sniAll: string[];
  /** ALPN protocol names in order (non-printable bytes escaped as \xHH). */
  alpn: string[];
  /** supported_versions entries, GREASE included. */
  supportedVersions: number[];
  /** signature_algorithms in wire order. */
  signatureAlgorithms: number[];
  /** encrypted_client_hello present; see ech.ts for the grease/real rule. */
  ech?: 'grease' | 'real' | 'unknown';
  /** encrypted_server_name (draft ESNI, 0xffce) present. */
  esni: boolean;
  /**
   * Set when an extension was malformed: parsing stopped there and the fields before it are
   * kept (a reason such as `tls.alpn_malformed`), as a lenient dissector reports what it saw.
   */
  malformed?: TlsReason;
}

export type HelloParse = { ok: true; hello: ClientHello } | { ok: false; reason: TlsReason };

/** Handshake header: msg_type + uint24 length (RFC 8446 §4). */
export const HANDSHAKE_HEADER_LEN = 4;
/** Bytes before the session id: version(2) + random(32). */
const FIXED_PREFIX = 34;

export const EXT_SERVER_NAME = 0x0000;
export const EXT_SIGNATURE_ALGORITHMS = 0x000d;
export const EXT_ALPN = 0x0010;
export const EXT_SUPPORTED_VERSIONS = 0x002b;
export const EXT_ECH = 0xfe0d;
export const EXT_ESNI = 0xffce;

/** RFC 8701 §2: GREASE values are 0x?A?A with both bytes equal. */
export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && (v >> 8) === (v & 0xff);
}

/** A ClientHello with its version and cipher suites and no extensions yet (TLS and SSLv2 alike). */
export function bareHello(legacyVersion: number, cipherSuites: number[]): ClientHello {
  return {
    legacyVersion,
    cipherSuites,
    extensions: [],
    sniAll: [],
    alpn: [],
    supportedVersions: [],
    signatureAlgorithms: [],
    esni: false,
  };
}

function fail(reason: TlsReason): HelloParse {
  return { ok: false, reason };
}

function u16(buf: Buffer, i: number): number {
  return ((buf[i] ?? 0) << 8) | (buf[i + 1] ?? 0);
}

/** Text of a name as sent: printable ASCII kept, anything else escaped (no log injection). */
export function printable(buf: Buffer, start: number, end: number): string {
  let plain = true;
  for (let i = start; i < end; i++) {
    const c = buf[i] ?? 0;
    if (c < 0x21 || c > 0x7e || c === 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) return buf.toString('latin1', start, end);
  let s = '';
  for (let i = start; i < end; i++) {
    const c = buf[i] ?? 0;
    s += c < 0x21 || c > 0x7e || c === 0x5c ? `\\x${c.toString(16).padStart(2, '0')}` : String.fromCharCode(c);
  }
  return s;
}

/** "http/1.1" as bytes, for `alpnText`. */
const HTTP11 = Buffer.from('http/1.1', 'latin1');

/**
 * An ALPN protocol name as text: the three names nearly every hello offers ("h2", "h3",
 * "http/1.1") are compared in place and returned as constants, anything else as `printable`
 * makes it (one string allocation less per name on the common path; the same text).
 */
function alpnText(buf: Buffer, p: number, len: number): string {
  if (len === 2 && buf[p] === 0x68) {
    const c = buf[p + 1];
    if (c === 0x32) return 'h2';
    if (c === 0x33) return 'h3';
  } else if (len === 8) {
    let same = true;
    for (let i = 0; i < 8 && same; i++) same = buf[p + i] === HTTP11[i];
    if (same) return 'http/1.1';
  }
  return printable(buf, p, p + len);
}

/**
 * Parse one ClientHello handshake message. `buf[off]` is msg_type (must be 1), then the uint24
 * length, then the body. `len` bytes from `off` are available; the message must fit in them.
 */
export function parseClientHello(buf: Buffer, off: number, len: number): HelloParse {
  if (off < 0 || len < 0 || off + len > buf.length) return fail('tls.bad_bounds');
  if (len < HANDSHAKE_HEADER_LEN) return fail('tls.hello_truncated');
  if (buf[off] !== 1) return fail('tls.not_client_hello');
  const bodyLen = ((buf[off + 1] ?? 0) << 16) | u16(buf, off + 2);
  if (bodyLen > len - HANDSHAKE_HEADER_LEN) return fail('tls.hello_truncated');
  let p = off + HANDSHAKE_HEADER_LEN;
  const end = p + bodyLen;

  if (end - p < FIXED_PREFIX + 1) return fail('tls.hello_malformed');
  const legacyVersion = u16(buf, p);
  p += FIXED_PREFIX;
  const sidLen = buf[p] ?? 0;
  if (sidLen > 32) return fail('tls.hello_malformed');
  p += 1 + sidLen;

  if (p + 2 > end) return fail('tls.hello_malformed');
  const csLen = u16(buf, p);
  p += 2;
  if (csLen % 2 !== 0 || p + csLen > end) return fail('tls.hello_malformed');
  // Arrays are made at their final size where the wire gives it: an empty array's first push
  // reserves 16 slots, and a hello's six arrays made that way were most of its allocation.
  const cipherSuites = new Array<number>(csLen >> 1);
  for (let i = 0; i < csLen >> 1; i++) cipherSuites[i] = u16(buf, p + 2 * i);
  p += csLen;

  if (p + 1 > end) return fail('tls.hello_malformed');
  const compLen = buf[p] ?? 0;
  p += 1 + compLen;
  if (p > end) return fail('tls.hello_malformed');

  const hello = bareHello(legacyVersion, cipherSuites);
  if (p === end) return { ok: true, hello }; // no extensions block (RFC 5246 §7.4.1.2)

  if (p + 2 > end) {
    hello.malformed = 'tls.ext_malformed';
    return { ok: true, hello };
  }
  const extLen = u16(buf, p);
  p += 2;
  let extEnd = p + extLen;
  if (extEnd > end) {
    hello.malformed = 'tls.ext_malformed';
    extEnd = end;
  }
  // Count the extension headers first (the same bounds as the walk below) to size the list.
  let nExt = 0;
  for (let q = p; q + 4 <= extEnd; nExt++) {
    const next = q + 4 + u16(buf, q + 2);
    if (next > extEnd) {
      nExt++;
      break;
    }
    q = next;
  }
  const extensions = new Array<number>(nExt);
  hello.extensions = extensions;
  let e = 0;
  while (p < extEnd) {
    if (p + 4 > extEnd) {
      hello.malformed = 'tls.ext_malformed';
      break;
    }
    const type = u16(buf, p);
    const elen = u16(buf, p + 2);
    p += 4;
    extensions[e++] = type;
    if (p + elen > extEnd) {
      hello.malformed = 'tls.ext_malformed';
      break;
    }
    const r = parseExtension(hello, type, buf, p, p + elen);
    if (r !== null) {
      hello.malformed = r;
      break;
    }
    p += elen;
  }
  if (e < nExt) extensions.length = e;
  if (hello.ech !== undefined) hello.ech = refineEch(hello.ech, hello.sni);
  return { ok: true, hello };
}

/** `n` numbers of 16 bits from `buf[at..]`, appended to `list` (replaced when it is empty). */
function u16List(list: number[], buf: Buffer, at: number, n: number): number[] {
  if (list.length === 0) {
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = u16(buf, at + 2 * i);
    return out;
  }
  for (let i = 0; i < n; i++) list.push(u16(buf, at + 2 * i));
  return list;
}

/** Fill `hello` from one extension body `[s, e)`; returns a reason on malformed bodies. */
function parseExtension(hello: ClientHello, type: number, buf: Buffer, s: number, e: number): TlsReason | null {
  switch (type) {
    case EXT_SERVER_NAME: {
      // An empty body is legal in a ServerHello only, but clients sending it are tolerated.
      if (e === s) return null;
      if (s + 2 > e) return 'tls.sni_malformed';
      const listEnd = s + 2 + u16(buf, s);
      if (listEnd > e) return 'tls.sni_malformed';
      for (let p = s + 2; p < listEnd; ) {
        if (p + 3 > listEnd) return 'tls.sni_malformed';
        const nameType = buf[p] ?? 0;
        const nlen = u16(buf, p + 1);
        p += 3;
        if (p + nlen > listEnd) return 'tls.sni_malformed';
        if (nameType === 0) {
          const name = printable(buf, p, p + nlen);
          if (hello.sni === undefined) hello.sni = name;
          if (hello.sniAll.length === 0) hello.sniAll = [name];
          else hello.sniAll.push(name);
        }
        p += nlen;
      }
      return null;
    }
    case EXT_ALPN: {
      if (s + 2 > e) return 'tls.alpn_malformed';
      const listEnd = s + 2 + u16(buf, s);
      if (listEnd > e) return 'tls.alpn_malformed';
      if (hello.alpn.length === 0) {
        let n = 0;
        for (let p = s + 2; p < listEnd; n++) p += 1 + (buf[p] ?? 0);
        const alpn = new Array<string>(n);
        hello.alpn = alpn;
        let i = 0;
        for (let p = s + 2; p < listEnd; ) {
          const plen = buf[p] ?? 0;
          p += 1;
          if (p + plen > listEnd) {
            alpn.length = i;
            return 'tls.alpn_malformed';
          }
          alpn[i++] = alpnText(buf, p, plen);
          p += plen;
        }
        return null;
      }
      for (let p = s + 2; p < listEnd; ) {
        const plen = buf[p] ?? 0;
        p += 1;
        if (p + plen > listEnd) return 'tls.alpn_malformed';
        hello.alpn.push(alpnText(buf, p, plen));
        p += plen;
      }
      return null;
    }
    case EXT_SUPPORTED_VERSIONS: {
      if (s + 1 > e) return 'tls.versions_malformed';
      const vlen = buf[s] ?? 0;
      if (vlen % 2 !== 0 || s + 1 + vlen > e) return 'tls.versions_malformed';
      hello.supportedVersions = u16List(hello.supportedVersions, buf, s + 1, vlen >> 1);
      return null;
    }
    case EXT_SIGNATURE_ALGORITHMS: {
      if (s + 2 > e) return 'tls.sigalgs_malformed';
      const slen = u16(buf, s);
      if (slen % 2 !== 0 || s + 2 + slen > e) return 'tls.sigalgs_malformed';
      hello.signatureAlgorithms = u16List(hello.signatureAlgorithms, buf, s + 2, slen >> 1);
      return null;
    }
    case EXT_ECH:
      hello.ech = classifyEch(buf, s, e);
      return null;
    case EXT_ESNI:
      hello.esni = true;
      return null;
    default:
      return null;
  }
}
