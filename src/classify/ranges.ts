/**
 * Destination prefixes of rules (`match.ranges`): longest-prefix lookup of one address over
 * every range of the rule set. Per address family, one hash table per prefix length present
 * (a few: /23, /48 …), keyed by the address's leading bits, probed longest first — a lookup
 * costs one address parse and one hash probe per distinct length, whatever the number of
 * ranges. An IPv4 range holds IPv4 addresses only, an IPv6 range IPv6 addresses only.
 */
import { addrBytes, parseCidr, type Cidr } from '../tenants/cidr.js';

export { addrBytes, parseCidr, type Cidr };

function keyOf(bytes: Uint8Array, bits: number): string {
  const full = bits >> 3;
  let k = '';
  for (let i = 0; i < full; i++) k += String.fromCharCode(bytes[i] ?? 0);
  const rem = bits & 7;
  if (rem !== 0) k += String.fromCharCode((bytes[full] ?? 0) & ((0xff << (8 - rem)) & 0xff));
  return k;
}

/** True when the range has no address bits set past its prefix (`160.79.104.0/23`, not `160.79.105.0/23`). */
export function isNetworkAddress(c: Cidr): boolean {
  for (let bit = c.bits; bit < 128; bit++) if ((((c.bytes[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) !== 0) return false;
  return true;
}

/** Dotted quad → unsigned 32-bit number, or -1 (hand-parsed: this runs per unnamed connection). */
export function parseV4(s: string): number {
  let v = 0;
  let octet = -1;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      octet = octet < 0 ? c - 0x30 : octet * 10 + (c - 0x30);
      if (octet > 255) return -1;
    } else if (c === 0x2e) {
      if (octet < 0 || dots === 3) return -1;
      v = v * 256 + octet;
      octet = -1;
      dots++;
    } else return -1;
  }
  if (octet < 0 || dots !== 3) return -1;
  return v * 256 + octet;
}

const hexVal = (c: number): number => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1);

/**
 * IPv6 text → 16 bytes in `out` (hand-parsed, no allocation); false when it is not an IPv6
 * address. Forms with an embedded IPv4 tail or a zone id go through the general parser.
 */
export function parseV6(s: string, out: Uint8Array): boolean {
  if (s.includes('.') || s.includes('%')) {
    const b = addrBytes(s);
    if (b === undefined) return false;
    out.set(b);
    return true;
  }
  const groups: number[] = [];
  let gap = -1;
  let cur = -1;
  let digits = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3a) {
      if (i + 1 < n && s.charCodeAt(i + 1) === 0x3a) {
        if (gap >= 0) return false;
        if (cur >= 0) groups.push(cur);
        else if (i !== 0) return false;
        gap = groups.length;
        cur = -1;
        digits = 0;
        i++;
        continue;
      }
      if (cur < 0) return false;
      groups.push(cur);
      cur = -1;
      digits = 0;
      continue;
    }
    const h = hexVal(c);
    if (h < 0 || ++digits > 4) return false;
    cur = cur < 0 ? h : cur * 16 + h;
  }
  if (cur >= 0) groups.push(cur);
  else if (gap !== groups.length || n < 2) return false; // a trailing single ':'
  const fill = 8 - groups.length;
  if (gap < 0 ? fill !== 0 : fill < 1) return false;
  let g = 0;
  for (let k = 0; k < 8; k++) {
    const v = gap >= 0 && k >= gap && k < gap + fill ? 0 : (groups[g++] ?? 0);
    out[k * 2] = v >> 8;
    out[k * 2 + 1] = v & 0xff;
  }
  return true;
}

/**
 * Per family: one hash table per prefix length present (longest first). IPv4 keys are the
 * address's leading bits as a number; IPv6 keys its masked leading bytes as a short string.
 */
export class RangeTable<T> {
  private readonly v4 = new Map<number, Map<number, T[]>>();
  private readonly v6 = new Map<number, Map<string, T[]>>();
  private lens4: number[] = [];
  private lens6: number[] = [];
  private readonly scratch = new Uint8Array(16);

  /** Ranges held. */
  size = 0;

  add(c: Cidr, v: T): void {
    this.size++;
    const isV4 = c.bits >= 96 && c.bytes[10] === 0xff && c.bytes[11] === 0xff && c.bytes.subarray(0, 10).every((b) => b === 0) && c.text.includes('.');
    if (isV4) {
      const len = c.bits - 96;
      const addr = (((c.bytes[12] ?? 0) << 24) >>> 0) + ((c.bytes[13] ?? 0) << 16) + ((c.bytes[14] ?? 0) << 8) + (c.bytes[15] ?? 0);
      push(this.v4, len, key4(addr, len), v);
      this.lens4 = [...this.v4.keys()].sort((a, b) => b - a);
    } else {
      push(this.v6, c.bits, keyOf(c.bytes, c.bits), v);
      this.lens6 = [...this.v6.keys()].sort((a, b) => b - a);
    }
  }

  /** Every value whose range holds the address, longest prefix first; [] for a non-address. */
  lookup(addr: string): T[] {
    if (this.size === 0) return [];
    const out: T[] = [];
    if (addr.includes(':')) {
      if (this.lens6.length === 0) return out;
      const bytes = this.scratch;
      if (!parseV6(addr, bytes)) return out;
      for (const len of this.lens6) {
        const list = this.v6.get(len)?.get(keyOf(bytes, len));
        if (list !== undefined) out.push(...list);
      }
      return out;
    }
    if (this.lens4.length === 0) return out;
    const a = parseV4(addr);
    if (a < 0) return out;
    for (const len of this.lens4) {
      const list = this.v4.get(len)?.get(key4(a, len));
      if (list !== undefined) out.push(...list);
    }
    return out;
  }
}

function key4(addr: number, len: number): number {
  return len === 0 ? 0 : Math.floor(addr / 2 ** (32 - len));
}

function push<K, V>(m: Map<number, Map<K, V[]>>, len: number, k: K, v: V): void {
  let t = m.get(len);
  if (t === undefined) {
    t = new Map();
    m.set(len, t);
  }
  const list = t.get(k);
  if (list === undefined) t.set(k, [v]);
  else list.push(v);
}
