/**
 * Address ranges for tenant membership: IPv4 (RFC 791 dotted quad, RFC 4632 CIDR) and IPv6
 * (RFC 4291 §2.2 text forms, RFC 4291 §2.3 prefixes). Addresses become 16-byte arrays (IPv4 as
 * IPv4-mapped, RFC 4291 §2.5.5.2) so one longest-prefix compare serves both families.
 */
import { isIP } from 'node:net';

export interface Cidr {
  /** 16 bytes; IPv4 ranges are stored IPv4-mapped. */
  bytes: Uint8Array;
  /** Prefix length in the 128-bit space (IPv4 /n becomes /96+n). */
  bits: number;
  text: string;
}

function v4Bytes(text: string, out: Uint8Array, at: number): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!/^\d{1,3}$/.test(p)) return false;
    const n = Number(p);
    if (n > 255) return false;
    out[at + i] = n;
  }
  return true;
}

/** Canonical 16-byte form of an address, or undefined when it is not an address. */
export function addrBytes(text: string): Uint8Array | undefined {
  const fam = isIP(text);
  const out = new Uint8Array(16);
  if (fam === 4) {
    out[10] = 0xff;
    out[11] = 0xff;
    return v4Bytes(text, out, 12) ? out : undefined;
  }
  if (fam !== 6) return undefined;
  // Strip a zone id (RFC 6874) — membership is by address only.
  let s = text.toLowerCase();
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  // Embedded IPv4 tail (RFC 4291 §2.2 form 3).
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  const last = s.slice(lastColon + 1);
  if (last.includes('.')) {
    const t = new Uint8Array(4);
    if (!v4Bytes(last, t, 0)) return undefined;
    tail = [((t[0] ?? 0) << 8) | (t[1] ?? 0), ((t[2] ?? 0) << 8) | (t[3] ?? 0)];
    // Drop the dotted tail; keep a '::' it followed ("64:ff9b::192.0.2.33"), else its ':'.
    s = s.slice(0, lastColon + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const halves = s.split('::');
  const parse = (h: string): number[] => (h === '' ? [] : h.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0] ?? '');
  const rest = halves.length > 1 ? parse(halves[1] ?? '') : [];
  const groups = 8 - tail.length;
  const fill = halves.length > 1 ? groups - head.length - rest.length : 0;
  const all = [...head, ...new Array<number>(Math.max(0, fill)).fill(0), ...rest, ...tail];
  if (all.length !== 8) return undefined;
  for (let i = 0; i < 8; i++) {
    const g = all[i] ?? 0;
    if (!Number.isInteger(g) || g < 0 || g > 0xffff) return undefined;
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  }
  return out;
}

/** Parses `a.b.c.d/n` or `x::y/n` (a bare address is a host route); undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addr = slash >= 0 ? text.slice(0, slash) : text;
  const fam = isIP(addr);
  if (fam === 0) return undefined;
  const max = fam === 4 ? 32 : 128;
  let len = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return undefined;
    len = Number(p);
    if (len > max) return undefined;
  }
  const bytes = addrBytes(addr);
  if (!bytes) return undefined;
  return { bytes, bits: fam === 4 ? 96 + len : len, text };
}

/** True when the first `bits` bits of `addr` equal those of the range. */
export function cidrContains(c: Cidr, addr: Uint8Array): boolean {
  const full = c.bits >> 3;
  for (let i = 0; i < full; i++) if (c.bytes[i] !== addr[i]) return false;
  const rem = c.bits & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return ((c.bytes[full] ?? 0) & mask) === ((addr[full] ?? 0) & mask);
}
