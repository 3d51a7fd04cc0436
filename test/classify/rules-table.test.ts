/**
 * Every rule of the default rule set, driven from the rule file itself: each host entry must
 * decide (in all spellings) and its near misses must not match that rule.
 */
import { describe, expect, it } from 'vitest';
import { Classifier } from '../../src/classify/index.js';
import type { RuleSpec } from '../../src/classify/types.js';
import { DEFAULT_RULES, defaultRuleFile } from './helpers.js';

const c = Classifier.fromFiles({ rules: DEFAULT_RULES });
const rules = defaultRuleFile().rules;

/** Ids of every rule (deciding or not) that matches the query. */
function matching(q: Parameters<Classifier['explain']>[0]): string[] {
  const e = c.explain(q);
  return [...(e.decidingRule ? [e.decidingRule.ruleId] : []), ...e.otherMatches.map((m) => m.ruleId)];
}

/** Spellings that must be equivalent to `h`. */
function spellings(h: string): string[] {
  return [h, h.toUpperCase(), `${h}.`, `${h.toUpperCase()}.`, h.replace(/^./, (x) => x.toUpperCase())];
}

/** Look-alikes that must not match a rule through entry `h`. */
function nearMisses(h: string): string[] {
  return [`x${h}`, `evil${h}`, `${h}.attacker.net`, `evil${h}.attacker.net`, `${h}x`, `${h}-x`, h.replace(/\.[^.]+$/, '.invalid')];
}

function hostRules(): RuleSpec[] {
  return rules.filter((r) => r.match.hosts || r.match.suffixes);
}

describe('default rule set', () => {
  it('loads with every category, no warnings, and covers the providers of the reference', () => {
    expect(c.warnings).toEqual([]);
    const cats = new Set(rules.map((r) => r.category));
    expect([...cats].sort()).toEqual(['agent', 'api', 'assistant', 'local_llm', 'plugin', 'sdk']);
    const providers = new Set(rules.map((r) => r.provider));
    for (const p of ['OpenAI', 'Anthropic', 'Google', 'Microsoft', 'AWS', 'Mistral', 'Cohere', 'Groq', 'Together AI', 'Fireworks AI', 'Perplexity', 'DeepSeek', 'xAI', 'OpenRouter', 'Replicate', 'Hugging Face', 'Cerebras', 'Meta', 'Cloudflare', 'GitHub', 'Cursor', 'Windsurf', 'JetBrains', 'Ollama', 'LM Studio', 'llama.cpp', 'vLLM', 'LocalAI', 'CrewAI', 'LangChain']) {
      expect(providers, p).toContain(p);
    }
    // (verify) entries of the reference are included and marked
    for (const id of ['azure-ai-foundry', 'aws-bedrock-runtime-fips', 'aws-bedrock-agent-runtime', 'replicate-api', 'cerebras', 'meta-llama-api', 'codeium-windsurf', 'langgraph-dev']) {
      expect(rules.find((r) => r.id === id)?.verify, id).toBe(true);
      expect(c.explain({ host: 'x', port: 1 }).rulesVersion).toBe(c.version);
    }
  });

  for (const r of hostRules()) {
    describe(`${r.id} (${r.category})`, () => {
      for (const h of r.match.hosts ?? []) {
        it(`exact ${h}`, () => {
          for (const s of spellings(h)) expect(c.classify({ host: s })?.ruleId, s).toBe(r.id);
          expect(c.classify({ host: h })?.category).toBe(r.category);
          expect(c.classify({ host: h })?.verify).toBe(r.verify === true ? true : undefined);
          const ownSuffix = (n: string): boolean => (r.match.suffixes ?? []).some((s) => n === s || n.endsWith(`.${s}`));
          for (const n of nearMisses(h).filter((x) => !ownSuffix(x))) expect(matching({ host: n }), n).not.toContain(r.id);
          const covered = (r.match.suffixes ?? []).some((s) => h === s || h.endsWith(`.${s}`));
          if (!covered) expect(matching({ host: `sub.${h}` })).not.toContain(r.id);
        });
      }
      for (const s of r.match.suffixes ?? []) {
        it(`suffix ${s}`, () => {
          for (const name of [s, `zz-probe.${s}`, `a.b.zz-probe.${s}`]) {
            for (const v of spellings(name)) expect(c.classify({ host: v })?.ruleId, v).toBe(r.id);
          }
          for (const n of nearMisses(s)) expect(matching({ host: n }), n).not.toContain(r.id);
        });
      }
    });
  }

  for (const r of rules.filter((x) => x.match.patterns)) {
    it(`pattern rule ${r.id}: examples decide and near misses do not`, () => {
      const yes = r.examples?.match ?? [];
      expect(yes.length).toBeGreaterThan(0);
      for (const h of yes) for (const s of spellings(h)) expect(c.classify({ host: s })?.ruleId, s).toBe(r.id);
      for (const h of [...(r.examples?.nomatch ?? []), ...yes.flatMap(nearMisses)]) expect(matching({ host: h }), h).not.toContain(r.id);
    });
  }

  for (const r of rules.filter((x) => x.match.ranges !== undefined)) {
    it(`range rule ${r.id}: its example addresses, only without a name, every range dated and sourced`, () => {
      for (const rg of r.match.ranges ?? []) {
        expect(rg.source.length, rg.prefix).toBeGreaterThan(10);
        expect(rg.date, rg.prefix).toMatch(/^20\d\d-\d\d-\d\d$/);
      }
      const yes = r.examples?.match ?? [];
      expect(yes.length).toBeGreaterThan(0);
      for (const a of yes) {
        const v = c.classify({ addr: a, port: 443 });
        expect(v?.ruleId, a).toBe(r.id);
        expect(r.match.ranges?.map((x) => x.prefix)).toContain(v?.range);
        expect(c.classify({ host: a, port: 443 })?.ruleId, a).toBe(r.id);
        // a name is known: the name decides, never the range
        expect(c.classify({ host: 'unknown.example.net', addr: a, port: 443 })).toBeUndefined();
      }
      for (const a of r.examples?.nomatch ?? []) expect(matching({ addr: a, port: 443 }), a).not.toContain(r.id);
    });
  }

  for (const r of rules.filter((x) => !x.match.hosts && !x.match.suffixes && !x.match.patterns && !x.match.ranges)) {
    it(`hostless rule ${r.id}`, () => {
      const port = r.match.ports?.[0];
      const proc = r.match.processes?.[0];
      const loop = r.match.localhost_only === true;
      const base = { host: '203.0.113.9', loopback: loop, ...(port === undefined ? {} : { port }) };
      const procs = proc === undefined ? [undefined] : [proc, proc.toUpperCase(), `/usr/local/bin/${proc}`, `C:\\Program Files\\X\\${proc}.exe`];
      for (const p of procs) {
        const q = p === undefined ? base : { ...base, serverProcessName: p };
        expect(c.classify(q)?.ruleId, String(p)).toBe(r.id);
        if (p !== undefined) expect(c.classify({ ...base, processName: p })?.ruleId).toBe(r.id);
      }
      if (loop) {
        // localhost_only: a LAN address is not enough; the localhost name and 127/8 are.
        const q = proc === undefined ? { ...base, loopback: false } : { ...base, loopback: false, processName: proc };
        expect(c.classify(q)).toBeUndefined();
        for (const h of ['localhost', '127.0.0.1', '::1', '[::1]:9']) {
          const lq = { ...q, host: h };
          expect(c.classify(lq)?.ruleId, h).toBe(r.id);
        }
      }
      if (port !== undefined) expect(matching({ ...base, port: port + 1, processName: 'zz-none' })).not.toContain(r.id);
      if (proc !== undefined) expect(matching({ ...base, processName: `${proc}x` })).not.toContain(r.id);
    });
  }

  it('colliding ports 8080, 8000, 5000 never decide on the port alone', () => {
    for (const port of [8080, 8000, 5000, 7860]) {
      expect(c.classify({ host: 'localhost', port, loopback: true })).toBeUndefined();
      expect(c.classify({ host: 'localhost', port, loopback: true, processName: 'python3' })).toBeUndefined();
    }
    expect(c.classify({ host: 'localhost', port: 8080, serverProcessName: 'llama-server' })?.provider).toBe('llama.cpp');
    expect(c.classify({ host: 'localhost', port: 8000, serverProcessName: 'vllm' })?.provider).toBe('vLLM');
    expect(c.classify({ host: '10.0.0.5', port: 8000, serverProcessName: 'vllm' })).toBeUndefined();
  });

  it('excluded telemetry hosts are explained but never classified', () => {
    for (const h of ['copilot-telemetry.githubusercontent.com', 'default.exp-tas.com', 'collector.github.com', 'cloudflare-ech.com']) {
      expect(c.classify({ host: h })).toBeUndefined();
      expect(c.explain({ host: h }).excluded?.host).toBe(h);
    }
  });
});
