/** The published precedence, on the default rules and on synthetic rule sets for each tie-break. */
import { describe, expect, it } from 'vitest';
import { Classifier } from '../../src/classify/index.js';
import type { RuleSpec } from '../../src/classify/types.js';
import { DEFAULT_RULES } from './helpers.js';

const c = Classifier.fromFiles({ rules: DEFAULT_RULES });

function rule(id: string, category: RuleSpec['category'], match: RuleSpec['match']): RuleSpec {
  return { id, category, provider: id, match, source: 'test' };
}

describe('precedence', () => {
  it('api beats assistant beats sdk on the default rules', () => {
    expect(c.classify({ host: 'api.perplexity.ai' })?.category).toBe('api'); // api exact vs assistant suffix
    expect(c.classify({ host: 'www.perplexity.ai' })?.category).toBe('assistant');
    expect(c.classify({ host: 'api.openai.com', processName: 'openai' })?.ruleId).toBe('openai-api');
    expect(c.classify({ host: 'chatgpt.com', processName: 'openai' })?.ruleId).toBe('openai-chatgpt');
    expect(c.classify({ host: 'example.org', processName: 'openai' })?.ruleId).toBe('sdk-openai-cli');
  });

  it('sdk beats local_llm, local_llm beats agent', () => {
    expect(c.classify({ host: 'localhost', port: 11434, processName: 'openai' })?.category).toBe('sdk');
    expect(c.classify({ host: 'localhost', port: 11434 })?.category).toBe('local_llm');
    expect(c.classify({ host: 'localhost', port: 11434, processName: 'crewai' })?.category).toBe('local_llm');
    expect(c.classify({ host: 'localhost', port: 2024 })?.category).toBe('agent');
  });

  it('explain names the deciding rule, every other match and why', () => {
    const e = c.explain({ host: 'api.x.ai', processName: 'OpenAI.exe' });
    expect(e.decidingRule?.ruleId).toBe('xai-api');
    expect(e.otherMatches.map((m) => m.ruleId)).toEqual(['xai-grok', 'sdk-openai-cli']);
    expect(e.reasons).toEqual(['rule xai-api wins: category api beats assistant', 'rule xai-api wins: category api beats sdk']);
    expect(e.verdict).toEqual(c.classify({ host: 'api.x.ai', processName: 'OpenAI.exe' }));
    const partial = c.explain({ host: 'localhost', port: 8080 });
    expect(partial.verdict).toBeNull();
    expect(partial.unmet).toEqual([
      { ruleId: 'local-llama-cpp', failed: 'process' },
      { ruleId: 'local-localai', failed: 'process' },
    ]);
  });

  it('full order: plugin beats agent', () => {
    const k = Classifier.fromRuleSet({
      rules: [rule('a-agent', 'agent', { suffixes: ['mcp.example'] }), rule('a-plugin', 'plugin', { suffixes: ['example'] })],
      excluded: [],
      tenants: [],
    });
    expect(k.classify({ host: 'x.mcp.example' })?.ruleId).toBe('a-plugin');
  });

  it('same category: exact beats suffix beats pattern, longer suffix wins', () => {
    const k = Classifier.fromRuleSet({
      rules: [
        rule('p', 'api', { patterns: ['{aws_region}.svc.example.com'] }),
        rule('s-short', 'api', { suffixes: ['example.com'] }),
        rule('s-long', 'api', { suffixes: ['svc.example.com'] }),
        rule('e', 'api', { hosts: ['us-east-1.svc.example.com'] }),
      ],
      excluded: [],
      tenants: [],
    });
    expect(k.classify({ host: 'us-east-1.svc.example.com' })?.ruleId).toBe('e');
    expect(k.classify({ host: 'eu-west-1.svc.example.com' })?.ruleId).toBe('s-long');
    expect(k.classify({ host: 'other.example.com' })?.ruleId).toBe('s-short');
    expect(k.explain({ host: 'eu-west-1.svc.example.com' }).reasons).toEqual([
      'rule s-long wins: its suffix is longer than that of rule s-short',
      'rule s-long wins: a suffix match beats a pattern match of rule p',
    ]);
  });

  it('then more signals, then file order', () => {
    const k = Classifier.fromRuleSet({
      rules: [
        rule('first', 'api', { hosts: ['h.example'] }),
        rule('second', 'api', { hosts: ['h.example'] }),
        rule('pinned', 'api', { hosts: ['h.example'], ports: [4319] }),
      ],
      excluded: [],
      tenants: [],
    });
    expect(k.classify({ host: 'h.example', port: 4319 })?.ruleId).toBe('pinned');
    expect(k.classify({ host: 'h.example', port: 443 })?.ruleId).toBe('first');
    expect(k.explain({ host: 'h.example', port: 443 }).reasons).toEqual(['rule first wins: it comes before rule second in the rule files']);
  });

  it('a hostless rule of a stronger category beats a host rule', () => {
    const k = Classifier.fromRuleSet({
      rules: [rule('agent-host', 'agent', { hosts: ['h.example'] }), rule('api-port', 'api', { ports: [9999] })],
      excluded: [],
      tenants: [],
    });
    expect(k.classify({ host: 'h.example', port: 9999 })?.ruleId).toBe('api-port');
    expect(k.classify({ host: 'h.example', port: 443 })?.ruleId).toBe('agent-host');
  });
});
