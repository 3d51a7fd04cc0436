/** Export for agents: deterministic, versioned by content, and decides identically when loaded back. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson, Classifier, classifierFromExport } from '../../src/classify/index.js';
import { ruleSchema } from '../../src/classify/schema.js';
import type { ClassifyQuery } from '../../src/classify/types.js';
import { corpusAvailable, corpusNames, DEFAULT_RULES, defaultRuleFile } from './helpers.js';

const tenantDir = join(import.meta.dirname, 'fixtures/tenants');
const c = Classifier.fromFiles({ rules: DEFAULT_RULES, tenantDir });

/** Every rule's entries and examples, corpus names, and variants of each. */
function hostList(): string[] {
  const base = new Set<string>();
  for (const r of defaultRuleFile().rules) {
    for (const h of [...(r.match.hosts ?? []), ...(r.match.suffixes ?? []), ...(r.examples?.match ?? []), ...(r.examples?.nomatch ?? [])]) base.add(h);
  }
  for (const h of ['llm-gw.acme.internal', 'agents.acme.example', 'ai.globex.example', 'localhost', '127.0.0.1', '::1']) base.add(h);
  if (corpusAvailable()) {
    const n = corpusNames();
    for (const h of [...n.sni, ...n.dns, ...n.http]) base.add(h);
  }
  const out = new Set<string>();
  for (const h of base) {
    for (const v of [h, h.toUpperCase(), `${h}.`, `x${h}`, `sub.${h}`, `${h}.evil.net`, `a-${h}`, h.replace(/^[^.]*\./, '')]) out.add(v);
  }
  return [...out];
}

function queries(): ClassifyQuery[] {
  const qs: ClassifyQuery[] = [];
  const tenants = [undefined, 'acme', 'globex'];
  const procs = [undefined, 'chrome.exe', 'openai', 'ollama', 'llama-server', 'crewai'];
  const ports = [undefined, 443, 11434, 8080, 2024, 1234];
  let i = 0;
  for (const host of hostList()) {
    // A fixed rotation over the other fields keeps the list large but bounded.
    const q: ClassifyQuery = { host, loopback: i % 7 === 0 };
    const t = tenants[i % tenants.length];
    const p = procs[i % procs.length];
    const port = ports[i % ports.length];
    if (t !== undefined) q.tenant = t;
    if (p !== undefined) q.processName = p;
    if (port !== undefined) q.port = port;
    qs.push(q, { host });
    i++;
  }
  return qs;
}

describe('rules export', () => {
  it('is deterministic, sorted, includes the schema, and versioned by content', () => {
    const doc = c.exportDocument() as Record<string, unknown>;
    const again = Classifier.fromFiles({ rules: DEFAULT_RULES, tenantDir }).exportDocument();
    expect(canonicalJson(again)).toBe(canonicalJson(doc));
    expect(Object.keys(doc)).toEqual([...Object.keys(doc)].sort());
    expect(doc['schema']).toEqual(ruleSchema());
    expect(doc['version']).toBe(c.version);
    expect(c.version).toMatch(/^sha256-[0-9a-f]{16}$/);
    const rules = doc['rules'] as Array<{ order: number; match: { hosts?: string[] } }>;
    expect(rules.map((r) => r.order)).toEqual(rules.map((_, i) => i));
    for (const r of rules) if (r.match.hosts) expect(r.match.hosts).toEqual([...r.match.hosts].sort());
    const withoutTenants = Classifier.fromFiles({ rules: DEFAULT_RULES });
    expect(withoutTenants.version).not.toBe(c.version);
  });

  it('round trip: the loaded export decides and explains identically on a large host list', () => {
    const back = classifierFromExport(JSON.parse(canonicalJson(c.exportDocument())) as object);
    expect(back.version).toBe(c.version);
    expect(canonicalJson(back.exportDocument())).toBe(canonicalJson(c.exportDocument()));
    const qs = queries();
    expect(qs.length).toBeGreaterThan(5000);
    let decided = 0;
    for (const q of qs) {
      const a = c.classify(q);
      expect(back.classify(q), JSON.stringify(q)).toEqual(a);
      if (a) decided++;
    }
    expect(decided).toBeGreaterThan(500);
    for (const q of qs.slice(0, 400)) expect(back.explain(q)).toEqual(c.explain(q));
  });

  it('rejects a changed or malformed document', () => {
    const doc = JSON.parse(canonicalJson(c.exportDocument())) as Record<string, unknown>;
    const tampered = structuredClone(doc);
    (tampered['rules'] as Array<{ provider: string }>)[0]!.provider = 'Someone else';
    expect(() => classifierFromExport(tampered)).toThrow(/does not match the content/);
    const broken = structuredClone(doc);
    (broken['rules'] as Array<{ category: string }>)[0]!.category = 'chat';
    expect(() => classifierFromExport(broken)).toThrow(/invalid rule file: export document: rules: .*category must be one of/);
    expect(() => classifierFromExport({ format: 'other' })).toThrow(/format must be llmtap-rules-export\/1/);
    expect(() => classifierFromExport({ ...doc, rules: 'x' })).toThrow(/rules must be a list/);
  });
});
