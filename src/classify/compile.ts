/**
 * Compiles validated rule data into the matcher's index: hash maps keyed by exact host, by
 * suffix and by a pattern's fixed suffix, plus port and process indexes for rules without a
 * host condition. Built once per load (startup, reload), never per flow.
 */
import type { AiCategory, Verdict } from '../records.js';
import { compilePattern } from './pattern.js';
import type { HostKind, RankKey } from './precedence.js';
import { categoryRank, compareRank } from './precedence.js';
import { normalizeProcess } from './normalize.js';
import { parseCidr, RangeTable } from './ranges.js';
import type { Confidence, RuleSet, RuleSpec } from './types.js';

export interface CompiledRule {
  id: string;
  category: AiCategory;
  provider: string;
  /** Tenant the rule belongs to; undefined for default rules. */
  tenant: string | undefined;
  sanctioned: boolean;
  verify: boolean;
  confidence: Confidence;
  order: number;
  signals: number;
  hasHost: boolean;
  localhostOnly: boolean;
  ports: ReadonlySet<number> | undefined;
  processes: ReadonlySet<string> | undefined;
  /** Prebuilt, frozen verdicts: the hot path returns them without allocating. */
  verdict: Readonly<Verdict>;
  verdictSanctioned: Readonly<Verdict>;
  spec: RuleSpec;
}

/** One way a rule can match: a host entry (exact/suffix/pattern) or no host condition. */
export interface Hit extends RankKey {
  id: string;
  category: AiCategory;
  rule: CompiledRule;
  /** The host entry that matched (name, suffix, template or range prefix); empty for hostless rules. */
  entry: string;
  /** What this way of matching decides (a range hit's verdicts name its prefix). */
  verdict: Readonly<Verdict>;
  verdictSanctioned: Readonly<Verdict>;
  /** Range hits: where the range was published and when it was taken. */
  range?: { source: string; date: string };
}

export interface PatternEntry {
  re: RegExp;
  hit: Hit;
}

export interface CompiledIndex {
  rules: CompiledRule[];
  exact: Map<string, Hit[]>;
  suffix: Map<string, Hit[]>;
  patterns: Map<string, PatternEntry[]>;
  byPort: Map<number, Hit[]>;
  byProcess: Map<string, Hit[]>;
  /** Rules' destination prefixes (looked up only for connections without a host name). */
  ranges: RangeTable<Hit>;
  /** Tenants that have sanctioned rules (the hot path looks for them only there). */
  sanctionedTenants: Set<string>;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}

function compileRule(spec: RuleSpec, tenant: string | undefined, order: number): CompiledRule {
  const m = spec.match;
  const hasHost = (m.hosts?.length ?? 0) + (m.suffixes?.length ?? 0) + (m.patterns?.length ?? 0) + (m.ranges?.length ?? 0) > 0;
  const ports = m.ports === undefined ? undefined : new Set(m.ports);
  const processes = m.processes === undefined ? undefined : new Set(m.processes.map(normalizeProcess));
  const base: Verdict = { category: spec.category, provider: spec.provider, ruleId: spec.id, sanctioned: false };
  if (spec.verify === true) base.verify = true;
  return {
    id: spec.id,
    category: spec.category,
    provider: spec.provider,
    tenant,
    sanctioned: spec.sanctioned === true,
    verify: spec.verify === true,
    // a range is a weaker signal than a name: range rules are low confidence unless they say otherwise
    confidence: spec.confidence ?? ((m.ranges?.length ?? 0) > 0 ? 'low' : 'high'),
    order,
    signals: (hasHost ? 1 : 0) + (ports ? 1 : 0) + (processes ? 1 : 0),
    hasHost,
    localhostOnly: m.localhost_only === true,
    ports,
    processes,
    verdict: Object.freeze({ ...base }),
    verdictSanctioned: Object.freeze({ ...base, sanctioned: true }),
    spec,
  };
}

function hitOf(rule: CompiledRule, hostKind: HostKind, entry: string, entryLen = entry.length): Hit {
  return {
    id: rule.id,
    category: rule.category,
    rule,
    entry,
    verdict: rule.verdict,
    verdictSanctioned: rule.verdictSanctioned,
    catRank: categoryRank(rule.category),
    hostKind,
    entryLen,
    signals: rule.signals,
    tenant: rule.tenant !== undefined,
    order: rule.order,
  };
}

/** Host names in rules are stored the way queries are normalised (lower case, no final dot). */
function key(name: string): string {
  const l = name.toLowerCase();
  return l.endsWith('.') ? l.slice(0, -1) : l;
}

export function compileIndex(set: RuleSet): CompiledIndex {
  const idx: CompiledIndex = {
    rules: [],
    exact: new Map(),
    suffix: new Map(),
    patterns: new Map(),
    byPort: new Map(),
    byProcess: new Map(),
    ranges: new RangeTable<Hit>(),
    sanctionedTenants: new Set(),
  };
  const all: Array<[RuleSpec, string | undefined]> = set.rules.map((r) => [r, undefined]);
  for (const t of set.tenants) for (const r of t.rules) all.push([r, t.tenant]);
  all.forEach(([spec, tenant], order) => {
    const rule = compileRule(spec, tenant, order);
    idx.rules.push(rule);
    if (rule.sanctioned && tenant !== undefined) idx.sanctionedTenants.add(tenant);
    const m = spec.match;
    for (const h of m.hosts ?? []) push(idx.exact, key(h), hitOf(rule, 'exact', key(h)));
    for (const s of m.suffixes ?? []) push(idx.suffix, key(s), hitOf(rule, 'suffix', key(s)));
    for (const p of m.patterns ?? []) {
      const c = compilePattern(p);
      // load.ts validated every template; a failure here is a programming error.
      if (typeof c === 'string') throw new Error(c);
      push(idx.patterns, c.fixedSuffix, { re: c.re, hit: hitOf(rule, 'pattern', c.template) });
    }
    for (const r of m.ranges ?? []) {
      const c = parseCidr(r.prefix);
      // load.ts validated every prefix; a failure here is a programming error.
      if (c === undefined) throw new Error(`bad range ${r.prefix}`);
      const hit = hitOf(rule, 'range', r.prefix, c.bits);
      hit.verdict = Object.freeze({ ...rule.verdict, range: r.prefix });
      hit.verdictSanctioned = Object.freeze({ ...rule.verdictSanctioned, range: r.prefix });
      hit.range = { source: r.source, date: r.date };
      idx.ranges.add(c, hit);
    }
    if (!rule.hasHost) {
      const hit = hitOf(rule, 'none', '');
      if (rule.ports) for (const p of rule.ports) push(idx.byPort, p, hit);
      else for (const p of rule.processes ?? []) push(idx.byProcess, p, hit);
    }
  });
  for (const list of [...idx.byPort.values(), ...idx.byProcess.values()]) list.sort(compareRank);
  return idx;
}
