/**
 * Canonical spellings for EDR values (docs/edr-join.md §8.1, pitfall §11.4): addresses, transports,
 * hashes, paths, times. Every adapter goes through these before a record is keyed, so that
 * `0:0:0:0:0:0:0:1`, `::1` and `[::1%3]` key the same.
 */

/** What kind of address a canonical text is; decides the early noise drop (docs/edr-join.md §8.2 step 1). */
export type AddrScope = 'normal' | 'loopback' | 'link-local' | 'multicast' | 'broadcast' | 'unspecified';

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function v4Octets(s: string): number[] | undefined {
  const m = IPV4_RE.exec(s);
  if (m === null) return undefined;
  const out: number[] = [];
  for (let i = 1; i <= 4; i++) {
    const n = Number(m[i]);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

/** Parse IPv6 text (RFC 4291 §2.2, all three forms) into 8 groups, or undefined. */
function v6Groups(s: string): number[] | undefined {
  let text = s;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.indexOf('.', lastColon) > lastColon) {
    const o = v4Octets(text.slice(lastColon + 1));
    if (o === undefined) return undefined;
    tail = [((o[0] ?? 0) << 8) | (o[1] ?? 0), ((o[2] ?? 0) << 8) | (o[3] ?? 0)];
    const prefix = text.slice(0, lastColon + 1);
    // "::ffff:1.2.3.4" keeps its "::"; "64:ff9b:0:0:0:0:1.2.3.4" drops the separating colon
    text = prefix.endsWith('::') ? prefix : prefix.slice(0, -1);
  }
  const want = 8 - tail.length;
  const dbl = text.indexOf('::');
  if (dbl !== text.lastIndexOf('::')) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const head = parse(text.slice(0, dbl));
    const rest = parse(text.slice(dbl + 2));
    if (head === undefined || rest === undefined) return undefined;
    const fill = want - head.length - rest.length;
    if (fill < 1) return undefined;
    groups = [...head, ...new Array<number>(fill).fill(0), ...rest];
  } else {
    const all = parse(text);
    if (all === undefined || all.length !== want) return undefined;
    groups = all;
  }
  return [...groups, ...tail];
}

/** RFC 5952 §4: lower case, no leading zeros, longest run (≥ 2) of zero groups as "::". */
function formatV6(g: number[]): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestLen < 2) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const rest = hex.slice(bestStart + bestLen).join(':');
  return `${head}::${rest}`;
}

/**
 * Canonical address text: IPv4 dotted quad, IPv6 per RFC 5952, `::ffff:a.b.c.d` unwrapped,
 * zone ids and brackets stripped. Placeholders (`-`, empty, null) → undefined.
 */
export function canonIp(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  let s = raw.trim();
  if (s === '' || s === '-') return undefined;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const o = v4Octets(s);
  if (o !== undefined) return o.join('.');
  if (!s.includes(':')) return undefined;
  const g = v6Groups(s);
  if (g === undefined) return undefined;
  // IPv4-mapped ::ffff:0:0/96 (RFC 4291 §2.5.5.2) → the IPv4 address.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    const a = g[6] ?? 0;
    const b = g[7] ?? 0;
    return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
  }
  return formatV6(g);
}

/** Scope of a canonical address (output of canonIp). */
export function addrScope(ip: string): AddrScope {
  if (!ip.includes(':')) {
    if (ip === '0.0.0.0') return 'unspecified';
    if (ip === '255.255.255.255') return 'broadcast';
    const first = Number(ip.slice(0, ip.indexOf('.')));
    if (first === 127) return 'loopback';
    if (ip.startsWith('169.254.')) return 'link-local';
    if (first >= 224 && first <= 239) return 'multicast';
    return 'normal';
  }
  if (ip === '::') return 'unspecified';
  if (ip === '::1') return 'loopback';
  const lower = ip.toLowerCase();
  if (/^fe[89ab]/.test(lower)) return 'link-local';
  if (lower.startsWith('ff')) return 'multicast';
  return 'normal';
}

/** Transport from a name or IANA number: `tcp`/`Tcp`/`TcpV4`/`TCP`/`6` → tcp, etc. */
export function canonTransport(raw: unknown): 'tcp' | 'udp' | 'icmp' | 'other' | undefined {
  if (typeof raw === 'number') raw = String(raw);
  if (typeof raw !== 'string') return undefined;
  let s = raw.trim().toLowerCase();
  if (s === '' || s === '-') return undefined;
  if (s.startsWith('ipproto_')) s = s.slice(8); // Tetragon sock_arg: IPPROTO_TCP
  if (s === '6' || s.startsWith('tcp')) return 'tcp';
  if (s === '17' || s.startsWith('udp')) return 'udp';
  if (s === '1' || s === '58' || s.startsWith('icmp')) return 'icmp';
  return 'other';
}

/** IANA protocol number for a canonical transport (for keying against FlowRecord.proto). */
export function protoNumber(t: 'tcp' | 'udp' | 'icmp' | 'other'): number {
  return t === 'tcp' ? 6 : t === 'udp' ? 17 : t === 'icmp' ? 1 : 0;
}

/** A port as an integer 0..65535; 0 when absent or a placeholder. */
export function canonPort(raw: unknown): number {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw.trim()) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : 0;
}

/** A non-negative integer (pid), undefined when absent. */
export function canonInt(raw: unknown): number | undefined {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Lower-case hex of the expected length; all-zero values and placeholders → undefined. */
export function canonHash(raw: unknown, hexLen: number): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const s = raw.trim().toLowerCase();
  if (s.length !== hexLen || !/^[0-9a-f]+$/.test(s) || /^0+$/.test(s)) return undefined;
  return s;
}

/** Sysmon `Hashes` ("SHA1=..,MD5=..,SHA256=..,IMPHASH=..") → sha256/sha1. */
export function parseSysmonHashes(raw: unknown): { sha256?: string; sha1?: string } {
  const out: { sha256?: string; sha1?: string } = {};
  if (typeof raw !== 'string') return out;
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim().toUpperCase();
    const v = part.slice(eq + 1);
    if (k === 'SHA256') { const h = canonHash(v, 64); if (h !== undefined) out.sha256 = h; }
    else if (k === 'SHA1') { const h = canonHash(v, 40); if (h !== undefined) out.sha1 = h; }
  }
  return out;
}

const PROFILE_RE = /(^|[\\/])(users|home|documents and settings)([\\/])[^\\/]+/gi;

/**
 * Process path with user-profile segments redacted (`C:\Users\*\...`, `/home/*\/...`,
 * `\device\harddiskvolume2\users\*\...`). Placeholders and `<unknown process>` → undefined.
 */
export function canonPath(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const s = raw.trim();
  if (s === '' || s === '-' || isUnknownProcess(s)) return undefined;
  return s.replace(PROFILE_RE, '$1$2$3*');
}

export function isUnknownProcess(s: string): boolean {
  return s === '<unknown process>' || s === '&lt;unknown process&gt;';
}

/** Last path segment (either separator); undefined for placeholders. */
export function basename(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const s = raw.trim();
  if (s === '' || s === '-' || isUnknownProcess(s)) return undefined;
  const i = Math.max(s.lastIndexOf('\\'), s.lastIndexOf('/'));
  const b = i >= 0 ? s.slice(i + 1) : s;
  return b === '' ? undefined : b;
}

const TIME_RE = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?\s*(Z|[+-]\d\d:?\d\d)?$/i;

/**
 * `yyyy-MM-dd[T ]HH:mm:ss[.fffffff][Z|±hh:mm]` → ms since the epoch. No zone = UTC as
 * labelled (Sysmon UtcTime); skew learning absorbs local times that are mislabelled.
 */
export function parseTimeMs(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw !== 'string') return undefined;
  const m = TIME_RE.exec(raw.trim());
  if (m === null) return undefined;
  const frac = m[7] ?? '';
  const ms = frac === '' ? 0 : Number((frac + '000').slice(0, 3)) + Number('0.' + (frac.slice(3) || '0'));
  let t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) + ms;
  const z = m[8];
  if (z !== undefined && z.toUpperCase() !== 'Z') {
    const sign = z.startsWith('-') ? -1 : 1;
    const digits = z.slice(1).replace(':', '');
    t -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4))) * 60_000;
  }
  return Number.isFinite(t) ? t : undefined;
}

/** Epoch seconds (string or number, fractional allowed) → ms. */
export function epochSecondsToMs(raw: unknown): number | undefined {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  return Number.isFinite(n) && n > 0 ? Math.round(n * 1000) : undefined;
}

/** A trimmed non-placeholder string, else undefined. */
export function str(raw: unknown): string | undefined {
  if (typeof raw === 'number') return String(raw);
  if (typeof raw !== 'string') return undefined;
  const s = raw.trim();
  return s === '' || s === '-' ? undefined : s;
}
