/**
 * Normalisation of what a query carries, before any rule sees it.
 *
 * Host names (RFC 1034 §3.1 case-insensitive; RFC 5890 IDNA): strip a `:port` suffix and IPv6
 * brackets, map through IDNA (UTS #46, `node:url` domainToASCII) when non-ASCII, lower-case,
 * drop one trailing dot, then require RFC 1035 §2.3.4 limits: labels 1–63 characters of
 * [a-z0-9_-] without a leading or trailing hyphen, 253 characters in all. Address literals are
 * recognised (they match no host rule, but a loopback address makes the query loopback).
 */
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

export type HostProblem = 'classify.host_empty' | 'classify.host_idna' | 'classify.host_syntax' | 'classify.host_too_long';

export interface NormalHost {
  /** Normalised name; absent for address literals and invalid names. */
  name?: string;
  /** Address literal (canonical as given, lower case). */
  address?: string;
  /** The host itself denotes loopback (localhost, *.localhost, 127/8, ::1). */
  loopback: boolean;
  problem?: HostProblem;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

export function normalizeHost(raw: string): NormalHost {
  let h = raw.trim();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end > 0 ? h.slice(1, end) : h;
  } else {
    const colon = h.indexOf(':');
    // One colon followed by digits is host:port (seen in SNI values); more colons is IPv6.
    if (colon > 0 && h.indexOf(':', colon + 1) < 0 && /^\d+$/.test(h.slice(colon + 1))) h = h.slice(0, colon);
  }
  if (h.length === 0) return { loopback: false, problem: 'classify.host_empty' };
  const ipKind = isIP(h);
  if (ipKind !== 0) {
    const a = h.toLowerCase();
    return { address: a, loopback: ipKind === 4 ? a.startsWith('127.') : a === '::1' || a === '0:0:0:0:0:0:0:1' };
  }
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(h)) {
    const ascii = domainToASCII(h);
    if (ascii === '') return { loopback: false, problem: 'classify.host_idna' };
    h = ascii;
  }
  h = h.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h.length === 0) return { loopback: false, problem: 'classify.host_empty' };
  if (h.length > 253) return { loopback: false, problem: 'classify.host_too_long' };
  for (const label of h.split('.')) {
    if (!LABEL.test(label)) return { loopback: false, problem: 'classify.host_syntax' };
  }
  return { name: h, loopback: h === 'localhost' || h.endsWith('.localhost') };
}

/** Process basename, lower case, without directory and `.exe`. Empty when nothing is left. */
export function normalizeProcess(raw: string): string {
  let p = raw.trim();
  const cut = Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\'));
  if (cut >= 0) p = p.slice(cut + 1);
  p = p.toLowerCase();
  if (p.endsWith('.exe')) p = p.slice(0, -4);
  return p;
}
