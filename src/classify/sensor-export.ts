/**
 * The rule set for the sensors a team already runs: a Zeek Intel framework file and Suricata
 * rules. Both carry only what a network sensor can match by itself — the host signal of a rule
 * (exact hosts, dot-bounded suffixes, templates) — so rules that need a process, loopback or
 * the endpoint feed are left out and returned as notes with the reason (Suricata's file also
 * lists them as comments; the Intel file holds indicators only).
 *
 * Zeek (`Intel::DOMAIN`): the Intel framework matches a domain exactly (DNS queries, TLS SNI,
 * HTTP Host, certificates), so hosts are exported as they are, a suffix as its apex name (its
 * subdomains are not matched by Zeek: the comment says so) and templates not at all; a rule
 * that needs its port (`requires`, colliding ports) is left out. `meta.source` is
 * `llmtap:<rule id>`; `meta.desc` names provider, category and the llmtap rule-set version.
 *
 * Suricata: one rule per (signal, buffer) on `tls.sni`, `dns.query` and `quic.sni`: exact hosts
 * as `content; startswith; endswith`, suffixes as `content; endswith` plus a PCRE that requires
 * the dot boundary, templates as their anchored PCRE with their fixed suffix as the content
 * prefilter. Rule ports become the destination ports of the TLS/QUIC rules. sids are stable: a
 * hash of (rule id, buffer, signal) in a range of their own, so adding a rule never renumbers
 * the others; `metadata` carries llmtap_rule, provider, category, signal and the version.
 */
import { createHash } from 'node:crypto';
import { compilePattern } from './pattern.js';
import type { RuleSpec, RuleSet } from './types.js';

export type SensorFormat = 'zeek-intel' | 'suricata';

interface Signal {
  kind: 'host' | 'suffix' | 'pattern';
  value: string;
  /** Anchored regex (pattern) and its fixed suffix. */
  regex?: string;
  fixedSuffix?: string;
}

interface Exportable {
  rule: RuleSpec;
  tenant?: string;
  signals: Signal[];
}

/** Rules a sensor can match on names alone, and those it cannot (with why). */
function partition(set: RuleSet): { ok: Exportable[]; skipped: { id: string; why: string }[] } {
  const ok: Exportable[] = [];
  const skipped: { id: string; why: string }[] = [];
  const all: { rule: RuleSpec; tenant?: string }[] = [
    ...set.rules.map((rule) => ({ rule })),
    ...set.tenants.flatMap((t) => t.rules.filter((r) => r.sanctioned !== true).map((rule) => ({ rule, tenant: t.tenant }))),
  ];
  for (const { rule, tenant } of all) {
    const m = rule.match;
    const signals: Signal[] = [
      ...(m.hosts ?? []).map((h) => ({ kind: 'host' as const, value: h.toLowerCase() })),
      ...(m.suffixes ?? []).map((s) => ({ kind: 'suffix' as const, value: s.toLowerCase().replace(/^\./, '') })),
      ...(m.patterns ?? []).flatMap((t) => {
        const c = compilePattern(t);
        return typeof c === 'string' ? [] : [{ kind: 'pattern' as const, value: t, regex: c.regex, fixedSuffix: c.fixedSuffix }];
      }),
    ];
    const why =
      signals.length === 0 ? ((m.ranges ?? []).length > 0 ? 'address ranges (llmtap applies them only to connections without a name)' : 'no host condition')
        : (m.processes ?? []).length > 0 ? 'needs the client or server process (endpoint feed)'
          : m.localhost_only === true ? 'loopback only (endpoint feed)'
            : undefined;
    if (why !== undefined) skipped.push({ id: rule.id, why });
    else ok.push({ rule, ...(tenant !== undefined ? { tenant } : {}), signals });
  }
  return { ok, skipped };
}

function needsPort(r: RuleSpec): boolean {
  return (r.match.ports ?? []).length > 0 && (r.match.requires ?? []).length > 0;
}

// ───────────────────────────── Zeek ─────────────────────────────

/** Tabs and newlines cannot appear in a field of Zeek's ASCII input; spaces can. */
const zeekField = (s: string): string => (s === '' ? '-' : s.replace(/[\t\r\n]+/g, ' '));

export interface SensorExport {
  text: string;
  /** What was left out and why (`<rule id>: <reason>`). */
  notes: string[];
}

/** The Intel file: the `#fields` header and one line per indicator, nothing else (notes go beside it). */
export function toZeekIntel(set: RuleSet, version: string): SensorExport {
  const { ok, skipped } = partition(set);
  const lines = ['#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc'];
  const seen = new Set<string>();
  const notes: string[] = [];
  for (const e of ok) {
    if (needsPort(e.rule)) {
      notes.push(`${e.rule.id}: needs its port, which Zeek's Intel framework cannot express`);
      continue;
    }
    for (const s of e.signals) {
      if (s.kind === 'pattern') {
        notes.push(`${e.rule.id}: template ${s.value} (Zeek's Intel framework matches exact domains only)`);
        continue;
      }
      const key = `${s.value}\0${e.rule.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const desc = `${e.rule.provider} ${e.rule.category}${s.kind === 'suffix' ? ' (suffix rule: subdomains are not matched here)' : ''}${e.tenant !== undefined ? ` tenant ${e.tenant}` : ''}; llmtap rules ${version}`;
      lines.push([s.value, 'Intel::DOMAIN', `llmtap:${e.rule.id}`, desc].map(zeekField).join('\t'));
    }
  }
  for (const s of skipped) notes.push(`${s.id}: ${s.why}`);
  return { text: `${lines.join('\n')}\n`, notes };
}

// ───────────────────────────── Suricata ─────────────────────────────

/** Base of llmtap's sids: a range of their own (hash-placed, so stable when rules are added). */
export const SID_BASE = 1_500_000_000;
const SID_SPAN = 1_000_000_000;

/** Characters that must be escaped inside a quoted option value (msg, content). */
const quoteValue = (s: string): string => s.replace(/[\\";]/g, (c) => `\\${c}`);
/** Metadata values: no commas or semicolons; spaces become underscores. */
const metaValue = (s: string): string => s.replace(/[,;"\\]/g, '').replace(/\s+/g, '_');
/** A PCRE body for Suricata's `/.../` delimiters: slashes and the option delimiters escaped. */
const pcreBody = (re: string): string => re.replace(/\//g, '\\/').replace(/;/g, '\\;').replace(/"/g, '\\"');
const reEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const BUFFERS = [
  { buffer: 'tls.sni', proto: 'tls', what: 'TLS SNI' },
  { buffer: 'dns.query', proto: 'dns', what: 'DNS query' },
  { buffer: 'quic.sni', proto: 'quic', what: 'QUIC SNI' },
] as const;

function sidFor(key: string, used: Set<number>): number {
  const h = createHash('sha256').update(key).digest();
  let sid = SID_BASE + (h.readUInt32BE(0) % SID_SPAN);
  while (used.has(sid)) sid = SID_BASE + ((sid - SID_BASE + 1) % SID_SPAN);
  used.add(sid);
  return sid;
}

export function toSuricataRules(set: RuleSet, version: string): SensorExport {
  const { ok, skipped } = partition(set);
  const used = new Set<number>();
  const out: string[] = [`# llmtap rules ${version}: AI service names on tls.sni, dns.query and quic.sni (Suricata 7+)`];
  // sorted so the file is byte-stable; sids do not depend on the order
  const rows: { key: string; text: (sid: number) => string }[] = [];
  for (const e of ok) {
    const r = e.rule;
    const ports = [...new Set(r.match.ports ?? [])].sort((a, b) => a - b);
    for (const s of e.signals) {
      for (const b of BUFFERS) {
        // a rule that needs its port cannot be told apart by a DNS query
        if (b.buffer === 'dns.query' && needsPort(r)) continue;
        const dport = ports.length === 0 || b.buffer === 'dns.query' ? 'any' : ports.length === 1 ? String(ports[0]) : `[${ports.join(',')}]`;
        let match: string;
        if (s.kind === 'host') match = `${b.buffer}; content:"${quoteValue(s.value)}"; nocase; startswith; endswith;`;
        else if (s.kind === 'suffix') match = `${b.buffer}; content:"${quoteValue(s.value)}"; nocase; endswith; pcre:"/(?:^|\\.)${pcreBody(reEscape(s.value))}$/i";`;
        else match = `${b.buffer}; content:"${quoteValue(s.fixedSuffix ?? '')}"; nocase; endswith; pcre:"/${pcreBody(s.regex ?? '')}/i";`;
        if (s.kind === 'pattern' && (s.fixedSuffix ?? '') === '') match = `${b.buffer}; pcre:"/${pcreBody(s.regex ?? '')}/i";`;
        const msg = `llmtap ${r.provider} ${r.category}: ${s.value} (${b.what})`;
        const meta = [
          `llmtap_rule ${metaValue(r.id)}`,
          `provider ${metaValue(r.provider)}`,
          `category ${metaValue(r.category)}`,
          `signal ${s.kind}`,
          `llmtap_rules_version ${metaValue(version)}`,
          ...(e.tenant !== undefined ? [`tenant ${metaValue(e.tenant)}`] : []),
        ].join(', ');
        const key = `${e.tenant ?? ''}\0${r.id}\0${b.buffer}\0${s.kind}\0${s.value}`;
        rows.push({
          key,
          text: (sid) => `alert ${b.proto} any any -> any ${dport} (msg:"${quoteValue(msg)}"; ${match} classtype:policy-violation; sid:${sid}; rev:1; metadata:${meta};)`,
        });
      }
    }
  }
  rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const row of rows) out.push(row.text(sidFor(row.key, used)));
  const notes = skipped.map((s) => `${s.id}: ${s.why}`);
  for (const n of notes) out.push(`# not exported: ${n}`);
  return { text: `${out.join('\n')}\n`, notes };
}
