/**
 * Threat intelligence, optional and off by default: a tenant may load indicator files, and an
 * observation whose binary hash or destination host matches one raises a `threat_intel` alert
 * (critical) and raises the severity of the other alerts the same connection produces, naming
 * the indicator and its source. Matching is local: nothing leaves the sensor for a lookup.
 *
 * Two file formats, told apart by the first non-blank character:
 *
 * - Plain list: one indicator per line — a SHA-256 (64 hex digits), a SHA-1 (40) or a host
 *   name; `#` starts a comment; blank lines are skipped. Anything else (an MD5, a URL, an
 *   address, `*.example.com`) is an invalid line, counted with its line number.
 * - STIX 2.1 bundle (`{"type": "bundle", "objects": [...]}`): every `indicator` object with
 *   `pattern_type: "stix"`. Supported patterns are observation expressions made only of
 *   equality comparisons on `file:hashes.'SHA-256'`, `file:hashes.'SHA-1'` and
 *   `domain-name:value`, joined by `OR` (inside or between the brackets): any one comparison
 *   matching is a match. Everything else — `AND`, other operators (`!=`, `LIKE`, `MATCHES`,
 *   `IN`, …), other object paths, qualifiers (`WITHIN`, `REPEATS`, `START … STOP`),
 *   `FOLLOWEDBY`, other pattern languages — is counted as unsupported and never matched,
 *   because matching a part of it alone would be wrong. `revoked: true` indicators are
 *   skipped (counted); `valid_from` / `valid_until` bound when a connection may match (by its
 *   capture time).
 *
 * Hashes are typed: a SHA-256 indicator is compared only with a binary's SHA-256, a SHA-1 only
 * with its SHA-1. Host names match exactly (case-insensitive, without a trailing dot), as STIX
 * `domain-name:value =` does.
 *
 * A file that cannot be read or parsed gives a clear error (file name, reason, line or JSON
 * position) and no indicators; the caller keeps running without it (on reload: keeps the
 * previous load). Nothing here throws for bad input.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Observation } from '../records.js';
import type { Rule, RuleContext } from './rule.js';

import type { Indicator, IndicatorKind, IntelMatch } from './indicator.js';

export type { Indicator, IndicatorKind, IntelMatch } from './indicator.js';

/** What loading one file gave. */
export interface IndicatorFileReport {
  file: string;
  format: 'list' | 'stix' | 'unknown';
  indicators: number;
  /** STIX indicators whose pattern (or pattern language) is not supported. */
  unsupported: number;
  /** Lines (list) or indicators (STIX) that are malformed. */
  invalid: number;
  revoked: number;
  /** The first few problems, for the log: "line 7: not a SHA-256, SHA-1 or host name". */
  problems: string[];
  /** The file as a whole could not be used (unreadable, not JSON, not a bundle). */
  error?: string;
}

const PROBLEMS_MAX = 10;
const HEX64 = /^[0-9a-f]{64}$/;
const HEX40 = /^[0-9a-f]{40}$/;
/** RFC 1123 host name with at least one dot; labels up to 63 characters. */
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function normHost(h: string): string {
  return h.trim().toLowerCase().replace(/\.$/, '');
}

function note(r: IndicatorFileReport, msg: string): void {
  if (r.problems.length < PROBLEMS_MAX) r.problems.push(msg);
}

/** One plain-list line's indicator kind, or undefined when it is none. */
function classifyToken(tok: string): IndicatorKind | undefined {
  const t = tok.toLowerCase();
  if (HEX64.test(t)) return 'sha256';
  if (HEX40.test(t)) return 'sha1';
  if (/^[0-9a-f]+$/.test(t)) return undefined; // a hex string of another length (MD5, cut hash)
  if (HOSTNAME.test(normHost(t))) return 'domain';
  return undefined;
}

export function parsePlainList(text: string, source: string): { indicators: Indicator[]; report: IndicatorFileReport } {
  const report: IndicatorFileReport = { file: source, format: 'list', indicators: 0, unsupported: 0, invalid: 0, revoked: 0, problems: [] };
  const indicators: Indicator[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const kind = classifyToken(line);
    if (!kind) {
      report.invalid++;
      note(report, `line ${i + 1}: not a SHA-256, SHA-1 or host name`);
      return;
    }
    indicators.push({ kind, value: kind === 'domain' ? normHost(line) : line.toLowerCase(), source, ref: `line ${i + 1}` });
  });
  report.indicators = indicators.length;
  return { indicators, report };
}

// ───────────────────────────── STIX patterns ─────────────────────────────

/** STIX pattern keywords outside the supported subset (the grammar's operators and qualifiers). */
const KEYWORDS: ReadonlySet<string> = new Set(['AND', 'FOLLOWEDBY', 'WITHIN', 'REPEATS', 'START', 'STOP', 'NOT', 'LIKE', 'MATCHES', 'IN', 'ISSUBSET', 'ISSUPERSET', 'EXISTS']);

/** One supported comparison of a STIX pattern. */
export interface PatternTerm {
  kind: IndicatorKind;
  value: string;
}

export type PatternResult = { ok: true; terms: PatternTerm[] } | { ok: false; unsupported: boolean; reason: string };

/**
 * Parses a STIX 2.1 pattern when it is a disjunction of supported equality comparisons:
 *   pattern    := observation ( "OR" observation )*
 *   observation := "[" comparison ( "OR" comparison )* "]"
 *   comparison := path "=" string
 * `unsupported` is true for valid-looking patterns outside this subset, false for malformed
 * ones (an unterminated string, a bad hash length).
 */
export function parseStixPattern(pattern: string): PatternResult {
  let i = 0;
  const s = pattern;
  const ws = (): void => {
    while (i < s.length && /\s/.test(s[i] ?? '')) i++;
  };
  const unsupported = (reason: string): PatternResult => ({ ok: false, unsupported: true, reason });
  const malformed = (reason: string): PatternResult => ({ ok: false, unsupported: false, reason });
  const keyword = (): string => {
    ws();
    const m = /^[A-Za-z]+/.exec(s.slice(i));
    return m ? m[0] : '';
  };
  const terms: PatternTerm[] = [];
  for (;;) {
    ws();
    if (s[i] !== '[') return s[i] === '(' ? unsupported('parenthesised expressions') : malformed(`expected '[' at ${i}`);
    i++;
    for (;;) {
      ws();
      // object path: type ':' property path (up to the operator)
      const m = /^([a-z0-9-]+):((?:[A-Za-z0-9_]+|'[^']*')(?:\.(?:[A-Za-z0-9_]+|'[^']*')|\[[^\]]*\])*)/.exec(s.slice(i));
      if (!m) return malformed(`expected an object path at ${i}`);
      const path = `${m[1]}:${m[2]}`;
      i += m[0].length;
      ws();
      if (s[i] === '=') i++;
      else {
        const o = /^(!=|<=|>=|<|>|[A-Za-z]+)/.exec(s.slice(i));
        return o ? unsupported(`operator ${o[1] ?? ''}`) : malformed(`expected an operator at ${i}`);
      }
      ws();
      if (s[i] !== "'") {
        if (/^[bh]'/.test(s.slice(i)) || /^t'/.test(s.slice(i))) return unsupported('binary, hex or timestamp constant');
        return unsupported('a constant that is not a string');
      }
      i++;
      let value = '';
      let closed = false;
      while (i < s.length) {
        const ch = s[i] ?? '';
        if (ch === '\\') {
          const next = s[i + 1];
          if (next !== "'" && next !== '\\') return malformed(`bad escape at ${i}`);
          value += next;
          i += 2;
          continue;
        }
        i++;
        if (ch === "'") {
          closed = true;
          break;
        }
        value += ch;
      }
      if (!closed) return malformed('unterminated string');
      const term = termOf(path, value);
      if (term === 'unsupported') return unsupported(`object path ${path}`);
      if (typeof term === 'string') return malformed(term);
      terms.push(term);
      const kw = keyword();
      if (kw === 'OR') {
        i += 2;
        continue;
      }
      if (kw !== '') return KEYWORDS.has(kw) ? unsupported(`${kw} inside an observation`) : malformed(`unexpected '${kw}' at ${i}`);
      ws();
      if (s[i] !== ']') return malformed(`expected ']' at ${i}`);
      i++;
      break;
    }
    const kw = keyword();
    if (kw === '') {
      ws();
      if (i < s.length) return malformed(`unexpected '${s[i] ?? ''}' at ${i}`);
      return { ok: true, terms };
    }
    if (kw !== 'OR') return KEYWORDS.has(kw) ? unsupported(`${kw} between observations`) : malformed(`unexpected '${kw}' at ${i}`);
    i += 2;
  }
}

/** The term of a supported path, 'unsupported' for another path, or an error text. */
function termOf(path: string, value: string): PatternTerm | 'unsupported' | string {
  const hashPath = /^file:hashes\.(?:'(SHA-256|SHA-1)'|(SHA256|SHA1))$/.exec(path);
  if (hashPath) {
    const alg = (hashPath[1] ?? hashPath[2] ?? '').replace('-', '');
    const v = value.toLowerCase();
    if (alg === 'SHA256') return HEX64.test(v) ? { kind: 'sha256', value: v } : `not a SHA-256: '${value.slice(0, 80)}'`;
    return HEX40.test(v) ? { kind: 'sha1', value: v } : `not a SHA-1: '${value.slice(0, 80)}'`;
  }
  if (path === 'domain-name:value') {
    const h = normHost(value);
    return HOSTNAME.test(h) ? { kind: 'domain', value: h } : `not a host name: '${value.slice(0, 80)}'`;
  }
  return 'unsupported';
}

function timeUs(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms * 1000 : undefined;
}

export function parseStixBundle(text: string, source: string): { indicators: Indicator[]; report: IndicatorFileReport } {
  const report: IndicatorFileReport = { file: source, format: 'stix', indicators: 0, unsupported: 0, invalid: 0, revoked: 0, problems: [] };
  const indicators: Indicator[] = [];
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    report.error = `not valid JSON: ${(e as Error).message}`;
    return { indicators, report };
  }
  const bundle = doc as { type?: unknown; objects?: unknown };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || bundle.type !== 'bundle') {
    report.error = 'not a STIX bundle (a JSON object with "type": "bundle")';
    return { indicators, report };
  }
  if (bundle.objects === undefined) return { indicators, report };
  if (!Array.isArray(bundle.objects)) {
    report.error = 'STIX bundle "objects" is not a list';
    return { indicators, report };
  }
  bundle.objects.forEach((o: unknown, idx: number) => {
    if (typeof o !== 'object' || o === null) {
      report.invalid++;
      note(report, `objects[${idx}]: not an object`);
      return;
    }
    const ind = o as Record<string, unknown>;
    if (ind['type'] !== 'indicator') return;
    const id = typeof ind['id'] === 'string' && /^indicator--[0-9a-f-]{36}$/i.test(ind['id']) ? ind['id'] : undefined;
    const where = id ?? `objects[${idx}]`;
    if (!id || typeof ind['pattern'] !== 'string') {
      report.invalid++;
      note(report, `${where}: an indicator needs an id (indicator--<uuid>) and a pattern`);
      return;
    }
    if (ind['revoked'] === true) {
      report.revoked++;
      return;
    }
    if (ind['pattern_type'] !== 'stix') {
      report.unsupported++;
      note(report, `${where}: pattern_type ${JSON.stringify(ind['pattern_type'])} is not supported`);
      return;
    }
    const p = parseStixPattern(ind['pattern']);
    if (!p.ok) {
      if (p.unsupported) report.unsupported++;
      else report.invalid++;
      note(report, `${where}: ${p.unsupported ? 'unsupported' : 'malformed'} pattern (${p.reason})`);
      return;
    }
    const base: Omit<Indicator, 'kind' | 'value'> = { source, ref: id };
    if (typeof ind['name'] === 'string' && ind['name'] !== '') base.name = ind['name'].slice(0, 120);
    const from = timeUs(ind['valid_from']);
    const until = timeUs(ind['valid_until']);
    if (from !== undefined) base.validFromUs = from;
    if (until !== undefined) base.validUntilUs = until;
    for (const t of p.terms) indicators.push({ ...base, kind: t.kind, value: t.value });
    report.indicators++;
  });
  return { indicators, report };
}

/** Reads and parses one indicator file; never throws. */
export function loadIndicatorFile(path: string): { indicators: Indicator[]; report: IndicatorFileReport } {
  const source = basename(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      indicators: [],
      report: { file: source, format: 'unknown', indicators: 0, unsupported: 0, invalid: 0, revoked: 0, problems: [], error: `cannot read ${path}: ${code ?? (e as Error).message}` },
    };
  }
  const first = text.replace(/^\uFEFF/, '').trimStart()[0];
  return first === '{' || first === '[' ? parseStixBundle(text.replace(/^\uFEFF/, ''), source) : parsePlainList(text, source);
}

const KIND_LABEL: Record<IndicatorKind, string> = { sha256: 'SHA-256', sha1: 'SHA-1', domain: 'host' };

/** One tenant's loaded indicators, indexed for O(1) lookups per observation. */
export class ThreatIntelIndex {
  private readonly byKey = new Map<string, Indicator[]>();
  readonly size: number;

  constructor(indicators: Indicator[]) {
    for (const ind of indicators) {
      const k = `${ind.kind}:${ind.value}`;
      const list = this.byKey.get(k);
      if (list) list.push(ind);
      else this.byKey.set(k, [ind]);
    }
    this.size = indicators.length;
  }

  private find(kind: IndicatorKind, value: string, tsUs: number): Indicator | undefined {
    return this.byKey
      .get(`${kind}:${value}`)
      ?.find((i) => (i.validFromUs === undefined || tsUs >= i.validFromUs) && (i.validUntilUs === undefined || tsUs < i.validUntilUs));
  }

  /** The first indicator the observation's binary or destination matches (hash first). */
  match(obs: Observation): IntelMatch | undefined {
    if (this.size === 0) return undefined;
    const c = obs.client;
    const checks: [IndicatorKind, string | undefined][] = [
      ['sha256', c?.sha256?.toLowerCase()],
      ['sha1', c?.sha1?.toLowerCase()],
      ['domain', obs.host !== undefined ? normHost(obs.host) : undefined],
    ];
    for (const [kind, value] of checks) {
      if (value === undefined || value === '') continue;
      const ind = this.find(kind, value, obs.tsUs);
      if (ind) return { indicator: ind, what: `${KIND_LABEL[kind]} ${kind === 'domain' ? value : `${value.slice(0, 12)}…`}` };
    }
    return undefined;
  }
}

/** "indicator--… 'PROMPTSTEAL loader' (apt28.json)" / "line 3 (blocklist.txt)". */
export function describeIndicator(i: Indicator): string {
  return `${i.ref}${i.name !== undefined ? ` '${i.name}'` : ''} (${i.source})`;
}

/** The rule: a critical `threat_intel` alert for a connection that matches an indicator. */
export class ThreatIntelRule implements Rule {
  readonly name = 'threat_intel';

  observe(ctx: RuleContext): void {
    const m = ctx.intel;
    const v = ctx.obs.verdict;
    if (!m || !v) return;
    const c = ctx.obs.client;
    const who = c?.processName !== undefined ? `${c.processName} on ${c.deviceName ?? c.deviceId}` : ctx.obs.clientAddr;
    const detail: Record<string, string> = {
      indicator: `${m.indicator.kind}:${m.indicator.value}`,
      indicatorRef: m.indicator.ref,
      indicatorSource: m.indicator.source,
      matched: m.what,
    };
    if (m.indicator.name !== undefined) detail['indicatorName'] = m.indicator.name;
    ctx.emit({
      heuristic: 'threat_intel',
      severity: 'critical',
      title: `Threat intel: ${who} (${m.what}) matches indicator ${describeIndicator(m.indicator)} calling ${v.provider}`,
      detail,
    });
  }
}
