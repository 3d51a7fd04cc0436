/** Address text for records (never on the per-packet path). IPv6 per RFC 5952. */

export function v4ToString(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Groups of the address being printed (one scratch array: no allocation but the string). */
const G = new Uint16Array(8);

/** RFC 5952: lower-case hex, leading zeros dropped, the longest run (≥ 2) of zero groups as "::". */
export function v6ToString(b: Uint8Array, off: number): string {
  const g = G;
  for (let i = 0; i < 8; i++) g[i] = ((b[off + 2 * i] ?? 0) << 8) | (b[off + 2 * i + 1] ?? 0);
  return groupsToString(g);
}

/** The same text from four big-endian u32 words (as the flow table keeps addresses). */
export function v6WordsToString(w: Uint32Array, off: number): string {
  const g = G;
  for (let i = 0; i < 4; i++) {
    const x = w[off + i] ?? 0;
    g[2 * i] = x >>> 16;
    g[2 * i + 1] = x & 0xffff;
  }
  return groupsToString(g);
}

function groupsToString(g: Uint16Array): string {
  // IPv4-mapped ::ffff:a.b.c.d is printed in its mixed form
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    const a = (((g[6] ?? 0) << 16) | (g[7] ?? 0)) >>> 0;
    return `::ffff:${v4ToString(a)}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] === 0) {
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i > bestLen) {
        bestStart = i;
        bestLen = j - i;
      }
      i = j;
    } else i++;
  }
  if (bestLen < 2) bestStart = -1;
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += '::';
      i += bestLen - 1;
      continue;
    }
    s += i === 7 || i + 1 === bestStart ? (g[i] ?? 0).toString(16) : `${(g[i] ?? 0).toString(16)}:`;
  }
  return s;
}

/** Parse IPv4/IPv6 text to 4 or 16 bytes; undefined when not an address. Zone ids are stripped. */
export function parseAddr(text: string): Uint8Array | undefined {
  const s = text.trim().replace(/%.*$/, '').replace(/^\[|\]$/g, '');
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) {
    const p = s.split('.').map(Number);
    if (p.some((x) => x > 255)) return undefined;
    return Uint8Array.from(p);
  }
  if (!s.includes(':')) return undefined;
  let head = s;
  let tail4: number[] = [];
  const m = /^(.*:)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(s);
  if (m) {
    head = m[1]!.endsWith('::') ? m[1]! : m[1]!.slice(0, -1);
    tail4 = m[2]!.split('.').map(Number);
    if (tail4.some((x) => x > 255)) return undefined;
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const toGroups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const x of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(x)) return undefined;
      out.push(parseInt(x, 16));
    }
    return out;
  };
  const a = toGroups(halves[0] ?? '');
  const b = halves.length === 2 ? toGroups(halves[1] ?? '') : [];
  if (a === undefined || b === undefined) return undefined;
  const want = tail4.length ? 6 : 8;
  let groups: number[];
  if (halves.length === 2) {
    const fill = want - a.length - b.length;
    if (fill < 1) return undefined;
    groups = [...a, ...new Array<number>(fill).fill(0), ...b];
  } else {
    if (a.length !== want) return undefined;
    groups = a;
  }
  const out = new Uint8Array(16);
  groups.forEach((v, i) => {
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 255;
  });
  if (tail4.length) out.set(tail4, 12);
  return out;
}

/** Canonical text of any address text: dotted quad, or RFC 5952; IPv4-mapped unwrapped to IPv4. */
export function canonicalAddr(text: string): string | undefined {
  const b = parseAddr(text);
  if (b === undefined) return undefined;
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  let mapped = b[10] === 0xff && b[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (b[i] !== 0) mapped = false;
  if (mapped) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  return v6ToString(b, 0);
}
