/**
 * DNS response messages (RFC 1035 §4.1), reduced to what passive DNS needs: the header, the
 * first question and the Answer section. Authority and Additional sections are not read (they
 * hold OPT/DNSSEC records that are often the malformed part, and nothing a flow name needs).
 *
 *   Header: ID (16) | QR (1) Opcode (4) AA TC RD RA Z AD CD RCODE (4) | QDCOUNT | ANCOUNT |
 *           NSCOUNT | ARCOUNT
 *   Question: QNAME | QTYPE (16) | QCLASS (16)
 *   RR: NAME | TYPE (16) | CLASS (16) | TTL (32) | RDLENGTH (16) | RDATA
 *
 * Names are decoded by `dns-packet` (compression pointers must point backwards, so no loops);
 * it throws on malformed names, which is caught here, at this module's boundary, and turned into
 * a reason. A record whose name is only too long is skipped by its wire length and the rest of
 * the message is still read.
 */
import dnsPacket from 'dns-packet';
import { v4ToString, v6ToString } from '../../decode/addr.js';
import type { DnsRecord } from '../../records.js';
import type { DnsReason } from './reasons.js';
import { parseSvcParams } from './svcb.js';

/**
 * dns-packet's name codec (RFC 1035 §4.1.4 decompression). @types/dns-packet does not declare
 * the per-structure codecs the package exports, so the one used here is typed at this seam.
 */
interface NameCodec {
  decode: ((buf: Buffer, offset: number) => string) & { bytes: number };
}
const nameCodec = (dnsPacket as unknown as { name: NameCodec }).name;

export const DNS_HEADER_LEN = 12;
/** Real responses carry one question; a few more are tolerated. */
export const MAX_QUESTIONS = 8;

export interface DnsMessage {
  id: number;
  rcode: number;
  truncated: boolean;
  qname: string;
  qtype: string;
  answers: DnsRecord[];
}

export type DnsParse = { ok: true; msg: DnsMessage } | { ok: false; reason: DnsReason };

const TYPE_NAMES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 13: 'HINFO', 15: 'MX', 16: 'TXT', 28: 'AAAA',
  33: 'SRV', 35: 'NAPTR', 39: 'DNAME', 41: 'OPT', 43: 'DS', 46: 'RRSIG', 47: 'NSEC', 48: 'DNSKEY',
  50: 'NSEC3', 52: 'TLSA', 64: 'SVCB', 65: 'HTTPS', 255: 'ANY', 257: 'CAA',
};

/** Mnemonic of an RR type, `TYPE<n>` when unnamed (RFC 3597 §5). */
export function typeName(t: number): string {
  return TYPE_NAMES[t] ?? `TYPE${t}`;
}

/** True when `buf[off..]` holds a DNS response header (QR = 1, opcode QUERY). */
export function isResponse(buf: Buffer, off: number, len: number): boolean {
  if (len < DNS_HEADER_LEN) return false;
  const b2 = buf[off + 2] ?? 0;
  return (b2 & 0x80) !== 0 && (b2 & 0x78) === 0;
}

interface NameAt {
  name: string;
  next: number;
}

/** Characters that never reach a record as-is (no log injection through names). */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0020\u007f\\]/;

function clean(name: string): string {
  if (!UNSAFE.test(name)) return name;
  let s = '';
  for (const ch of name) {
    const c = ch.codePointAt(0) ?? 0;
    s += c <= 0x20 || c === 0x7f || c === 0x5c ? `\\x${c.toString(16).padStart(2, '0')}` : ch;
  }
  return s;
}

/** Wire length of the name at `p` without following pointers; -1 when it runs off the end. */
function skipName(buf: Buffer, p: number): number {
  let q = p;
  for (let guard = 0; guard < 128 && q < buf.length; guard++) {
    const len = buf[q] ?? 0;
    if (len === 0) return q + 1;
    if ((len & 0xc0) === 0xc0) return q + 2 <= buf.length ? q + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    q += 1 + len;
  }
  return -1;
}

/** Scratch for the fast name walk: the longest name dns-packet accepts is 254 bytes of text. */
const NAME_SCRATCH = Buffer.alloc(256);
/** Where the name read by `fastName` ends (offset after its last byte in place). */
let fastNext = 0;

/**
 * The common case of RFC 1035 §4.1.4 names, read in place: labels of plain printable ASCII,
 * backward pointers only, within the 254-byte limit. The text is copied into one scratch buffer
 * and made one string, where dns-packet makes a string per label and joins them (its cost was
 * a third of the DNS dissector's). Anything else — non-ASCII or unsafe bytes, a bad pointer or
 * label, a name too long, running off the end — returns undefined and the caller takes
 * dns-packet's path, so results and reasons are the same as before.
 */
function fastName(buf: Buffer, p: number): string | undefined {
  const out = NAME_SCRATCH;
  let w = 0;
  let off = p;
  let oldOffset = p;
  let jumped = false;
  let next = -1;
  let total = 0; // dns-packet's count: label lengths + 1 each, at most 254
  for (let guard = 0; guard < 256; guard++) {
    if (off >= buf.length) return undefined;
    const len = buf[off++] ?? 0;
    if (len === 0) {
      if (!jumped) next = off;
      fastNext = next;
      return w === 0 ? '.' : out.toString('latin1', 0, w);
    }
    if ((len & 0xc0) === 0) {
      total += len + 1;
      if (off + len > buf.length || total > 254) return undefined;
      if (w > 0) out[w++] = 0x2e;
      for (let i = 0; i < len; i++) {
        const c = buf[off + i] ?? 0;
        if (c <= 0x20 || c >= 0x7f || c === 0x5c) return undefined;
        out[w++] = c;
      }
      off += len;
      continue;
    }
    if ((len & 0xc0) !== 0xc0 || off >= buf.length) return undefined;
    const jump = ((len & 0x3f) << 8) | (buf[off] ?? 0);
    if (jump >= oldOffset) return undefined;
    if (!jumped) next = off + 1;
    jumped = true;
    off = jump;
    oldOffset = jump;
  }
  return undefined;
}

/** Decode the name at `p`; a reason string when it cannot be read at all. */
function nameAt(buf: Buffer, p: number, issues: DnsReason[]): NameAt | DnsReason {
  const fast = fastName(buf, p);
  if (fast !== undefined) return { name: fast, next: fastNext };
  try {
    const name = nameCodec.decode(buf, p);
    return { name: clean(name), next: p + nameCodec.decode.bytes };
  } catch (e) {
    const msg = e instanceof Error ? e.message : '';
    const reason: DnsReason = msg.includes('too long')
      ? 'dns.name_too_long'
      : msg.includes('pointer')
        ? 'dns.bad_pointer'
        : msg.includes('label')
          ? 'dns.bad_label'
          : msg.includes('overflow')
            ? 'dns.truncated'
            : 'dns.malformed';
    if (reason !== 'dns.name_too_long') return reason;
    const next = skipName(buf, p);
    if (next < 0) return 'dns.truncated';
    issues.push(reason);
    return { name: '', next };
  }
}

/**
 * Parse one DNS message occupying all of `msg` (a slice: compression pointers are offsets from
 * the message start). `issues` collects reasons for parts that were skipped while the rest was
 * still read.
 */
export function parseDnsMessage(msg: Buffer, maxAnswers: number, issues: DnsReason[]): DnsParse {
  if (msg.length < DNS_HEADER_LEN) return { ok: false, reason: 'dns.truncated' };
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  if (qd > MAX_QUESTIONS) return { ok: false, reason: 'dns.too_many_questions' };
  const out: DnsMessage = { id, rcode: flags & 0x0f, truncated: (flags & 0x0200) !== 0, qname: '', qtype: '', answers: [] };
  let p = DNS_HEADER_LEN;
  for (let i = 0; i < qd; i++) {
    const n = nameAt(msg, p, issues);
    if (typeof n === 'string') return { ok: false, reason: n };
    if (n.next + 4 > msg.length) return { ok: false, reason: 'dns.truncated' };
    if (i === 0) {
      out.qname = n.name;
      out.qtype = typeName(msg.readUInt16BE(n.next));
    }
    p = n.next + 4;
  }
  const count = Math.min(an, maxAnswers);
  if (an > maxAnswers) issues.push('dns.too_many_answers');
  for (let i = 0; i < count; i++) {
    const n = nameAt(msg, p, issues);
    if (typeof n === 'string') {
      issues.push(n);
      break;
    }
    const h = n.next;
    if (h + 10 > msg.length) {
      issues.push('dns.truncated');
      break;
    }
    const type = msg.readUInt16BE(h);
    const ttl = msg.readUInt32BE(h + 4);
    const rdlen = msg.readUInt16BE(h + 8);
    const rd = h + 10;
    const rdEnd = rd + rdlen;
    if (rdEnd > msg.length) {
      issues.push('dns.truncated');
      break;
    }
    p = rdEnd;
    if (n.name === '') continue; // owner name unreadable (too long): skipped, counted
    const rec = rdata(msg, type, rd, rdEnd, issues);
    if (rec === undefined) continue;
    const r: DnsRecord = { name: n.name, type: typeName(type), data: rec.data, ttl };
    if (rec.ipv4hint !== undefined) r.ipv4hint = rec.ipv4hint;
    if (rec.ipv6hint !== undefined) r.ipv6hint = rec.ipv6hint;
    if (rec.ech !== undefined) r.ech = rec.ech;
    out.answers.push(r);
  }
  return { ok: true, msg: out };
}

interface Rdata {
  data: string;
  ipv4hint?: string[];
  ipv6hint?: string[];
  ech?: boolean;
}

/** The part of rdata passive DNS uses; undefined (and an issue) when it is malformed. */
function rdata(msg: Buffer, type: number, rd: number, end: number, issues: DnsReason[]): Rdata | undefined {
  switch (type) {
    case 1: // A (RFC 1035 §3.4.1)
      if (end - rd !== 4) break;
      return { data: v4ToString(msg.readUInt32BE(rd)) };
    case 28: // AAAA (RFC 3596 §2.2)
      if (end - rd !== 16) break;
      return { data: v6ToString(msg, rd) };
    case 2: // NS
    case 5: // CNAME (RFC 1035 §3.3.1)
    case 12: // PTR
    case 39: {
      // DNAME
      const n = nameAt(msg, rd, issues);
      if (typeof n === 'string' || n.next > end) break;
      return { data: n.name };
    }
    case 64: // SVCB
    case 65: {
      // HTTPS (RFC 9460 §2.2)
      if (end - rd < 3) break;
      const n = nameAt(msg.subarray(0, end), rd + 2, issues);
      if (typeof n === 'string') break;
      const s = parseSvcParams(msg, msg.readUInt16BE(rd), n.next, end);
      if (s === undefined) break;
      const r: Rdata = { data: n.name, ech: s.ech };
      if (s.ipv4hint.length > 0) r.ipv4hint = s.ipv4hint;
      if (s.ipv6hint.length > 0) r.ipv6hint = s.ipv6hint;
      return r;
    }
    default:
      return { data: '' };
  }
  issues.push('dns.bad_rdata');
  return undefined;
}
