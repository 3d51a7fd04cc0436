/**
 * The rule set as one deterministic JSON document for endpoint agents: canonical key order,
 * sorted lists inside each match, rules in evaluation order with an explicit `order`, the
 * semantics an agent must implement (normalisation, placeholders, precedence), the JSON Schema
 * of the rule objects, and a version that is the SHA-256 of everything else. Loading the
 * document back gives a classifier that decides identically.
 */
import { createHash } from 'node:crypto';
import { LlmtapError } from '../errors.js';
import { compilePattern, PLACEHOLDERS } from './pattern.js';
import { schemaProblems, ruleSchema } from './schema.js';
import type { ExcludedHost, RuleSet, RuleSpec } from './types.js';
import { CATEGORY_ORDER } from './types.js';
import { COLLIDING_PORTS, ruleProblems } from './validate.js';

export const EXPORT_FORMAT = 'llmtap-rules-export/1';

/** JSON with object keys sorted at every level (arrays keep their order). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

const SEMANTICS = {
  categories: [...CATEGORY_ORDER],
  normalization: [
    'strip ":port" and IPv6 brackets; address literals match no host rule',
    'IDNA UTS #46 to ASCII (punycode) when the name has non-ASCII characters',
    'lower-case, remove one trailing dot',
    'labels of 1-63 characters [a-z0-9_-], no leading or trailing hyphen, 253 in all, else no match',
    'process names: basename, lower-case, ".exe" removed',
    'loopback: the query says so, or the host is localhost, *.localhost, 127.0.0.0/8 or ::1',
  ],
  match: [
    'hosts: equal to the name',
    'suffixes: equal to the name or a dot-bounded ending of it',
    'patterns: the anchored "regex" given with each template (placeholders below)',
    'hosts, suffixes and patterns of one rule are alternatives (the host signal)',
    'ranges: the destination address lies in the prefix (longest prefix first); looked up only when the connection has no host name (no SNI, DNS answer or endpoint name, or the host is an address literal); each range names its source and the date it was taken',
    'every present condition must hold: host signal, ports, processes (client or server process), localhost_only, tenant',
    'sanctioned tenant rules only mark a verdict; they decide only when no other rule matches',
  ],
  precedence: [
    'category in the order of "categories"',
    'host match kind: exact > suffix > pattern > range > none',
    'longer matched entry',
    'more signals in the rule (host, port, process)',
    'tenant rule before default rule',
    'lower "order"',
  ],
  placeholders: { ...PLACEHOLDERS },
  collidingPorts: [...COLLIDING_PORTS].sort((a, b) => a - b),
};

function sortedStrings(a: string[] | undefined): string[] | undefined {
  return a === undefined ? undefined : [...new Set(a.map((s) => s.toLowerCase()))].sort();
}

function exportRule(r: RuleSpec, order: number): Record<string, unknown> {
  const m = r.match;
  const match: Record<string, unknown> = {
    hosts: sortedStrings(m.hosts),
    suffixes: sortedStrings(m.suffixes),
    patterns: m.patterns === undefined ? undefined : sortedStrings(m.patterns)?.map((t) => {
      const c = compilePattern(t);
      return typeof c === 'string' ? { template: t } : { template: c.template, regex: c.regex };
    }),
    ports: m.ports === undefined ? undefined : [...new Set(m.ports)].sort((a, b) => a - b),
    processes: sortedStrings(m.processes),
    ranges: m.ranges === undefined ? undefined : [...m.ranges].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0)).map((r) => ({ prefix: r.prefix, source: r.source, date: r.date })),
    localhost_only: m.localhost_only,
    requires: m.requires === undefined ? undefined : [...new Set(m.requires)].sort(),
  };
  return {
    order,
    id: r.id,
    category: r.category,
    provider: r.provider,
    match,
    source: r.source,
    note: r.note,
    verify: r.verify,
    confidence: r.confidence,
    sanctioned: r.sanctioned,
    examples: r.examples,
  };
}

/** Builds the export document (a plain object; serialise with canonicalJson for bytes). */
export function buildExport(set: RuleSet): { doc: Record<string, unknown>; version: string } {
  let order = 0;
  const rules = set.rules.map((r) => exportRule(r, order++));
  const tenants = [...set.tenants]
    .sort((a, b) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0))
    .map((t) => ({ tenant: t.tenant, rules: t.rules.map((r) => exportRule(r, order++)) }));
  const excluded = [...set.excluded].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  const body = { format: EXPORT_FORMAT, semantics: SEMANTICS, rules, tenants, excluded, schema: ruleSchema() };
  const version = `sha256-${createHash('sha256').update(canonicalJson(body)).digest('hex').slice(0, 16)}`;
  return { doc: JSON.parse(canonicalJson({ ...body, version })) as Record<string, unknown>, version };
}

/** Back from exported rule objects to rule specs (patterns as templates, no `order`). */
function importRule(o: Record<string, unknown>): RuleSpec {
  const { order: _order, match, ...rest } = o;
  const m = { ...(match as Record<string, unknown>) };
  if (Array.isArray(m['patterns'])) m['patterns'] = (m['patterns'] as Array<{ template?: unknown }>).map((p) => p.template);
  return { ...rest, match: m } as unknown as RuleSpec;
}

function fail(detail: string): never {
  throw new LlmtapError('LLMTAP_ERR_RULES', `export document: ${detail}`);
}

/** Parses and checks an export document; throws LlmtapError LLMTAP_ERR_RULES. */
export function ruleSetFromExport(doc: object): { set: RuleSet; version: string } {
  const d = doc as Record<string, unknown>;
  if (d['format'] !== EXPORT_FORMAT) fail(`format must be ${EXPORT_FORMAT}`);
  const ordered = (list: unknown, where: string): RuleSpec[] => {
    if (!Array.isArray(list)) fail(`${where} must be a list`);
    const objs = (list as unknown[]).map((x) => (x !== null && typeof x === 'object' ? (x as Record<string, unknown>) : fail(`${where} has a non-object rule`)));
    objs.sort((a, b) => Number(a['order']) - Number(b['order']));
    return objs.map(importRule);
  };
  const check = (rules: RuleSpec[], tenant: string | undefined, where: string): void => {
    const file = tenant === undefined ? { format: 'llmtap-rules/1', rules } : { format: 'llmtap-rules/1', tenant, rules };
    const sp = schemaProblems(file);
    if (sp.length > 0) fail(`${where}: ${sp.map((p) => `${p.path.join('.')} ${p.message}`).join('; ')}`);
    const ids = new Set<string>();
    for (const r of rules) {
      if (ids.has(r.id)) fail(`${where}: rule ${r.id}: duplicate id`);
      ids.add(r.id);
      const probs = ruleProblems(r, tenant !== undefined);
      if (probs.length > 0) fail(`${where}: rule ${r.id}: ${probs.join('; ')}`);
    }
  };
  const rules = ordered(d['rules'], 'rules');
  check(rules, undefined, 'rules');
  if (!Array.isArray(d['tenants'])) fail('tenants must be a list');
  const tenants = (d['tenants'] as Array<Record<string, unknown>>).map((t) => {
    const tenant = typeof t['tenant'] === 'string' ? t['tenant'] : fail('a tenant entry has no name');
    const tr = ordered(t['rules'], `tenant ${tenant}`);
    check(tr, tenant, `tenant ${tenant}`);
    return { tenant, rules: tr };
  });
  const excluded = Array.isArray(d['excluded']) ? (d['excluded'] as ExcludedHost[]) : [];
  const set: RuleSet = { rules, excluded, tenants };
  const { version } = buildExport(set);
  if (d['version'] !== version) fail(`version ${String(d['version'])} does not match the content (${version}): the document was changed or damaged`);
  return { set, version };
}
