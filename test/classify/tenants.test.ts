/** Tenant rules: sanctioned endpoints keep the category and mark the verdict; additions compete. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Classifier } from '../../src/classify/index.js';
import { DEFAULT_RULES } from './helpers.js';

const dir = join(import.meta.dirname, 'fixtures/tenants');
const c = Classifier.fromFiles({ rules: DEFAULT_RULES, tenantDir: dir });

describe('tenant rules', () => {
  it('a sanctioned match keeps the deciding rule and category and sets sanctioned', () => {
    expect(c.classify({ host: 'api.openai.com', tenant: 'acme' })).toEqual({ category: 'api', provider: 'OpenAI', ruleId: 'openai-api', sanctioned: true });
    expect(c.classify({ host: 'api.openai.com', tenant: 'globex' })?.sanctioned).toBe(false);
    expect(c.classify({ host: 'api.openai.com' })?.sanctioned).toBe(false);
    const e = c.explain({ host: 'api.openai.com', tenant: 'acme' });
    expect(e.sanctionedBy).toEqual(['acme-openai-contract']);
    expect(e.reasons).toContain('rule acme-openai-contract marks the verdict sanctioned; the category stays api');
  });

  it('a sanctioned internal gateway decides when nothing else matches, for its tenant only', () => {
    expect(c.classify({ host: 'eu.llm-gw.acme.internal', tenant: 'acme' })).toEqual({ category: 'api', provider: 'Acme LLM gateway', ruleId: 'acme-llm-gateway', sanctioned: true });
    expect(c.classify({ host: 'eu.llm-gw.acme.internal', tenant: 'globex' })).toBeUndefined();
    expect(c.classify({ host: 'eu.llm-gw.acme.internal' })).toBeUndefined();
    expect(c.classify({ host: 'ai.globex.example', tenant: 'globex' })?.ruleId).toBe('globex-gateway');
  });

  it('additions apply to their tenant and beat a default rule at equal rank', () => {
    expect(c.classify({ host: 'agents.acme.example', tenant: 'acme' })?.category).toBe('agent');
    expect(c.classify({ host: 'agents.acme.example', tenant: 'globex' })).toBeUndefined();
    expect(c.classify({ host: 'api.mistral.ai', tenant: 'acme' })?.ruleId).toBe('acme-mistral-proxy');
    expect(c.classify({ host: 'api.mistral.ai', tenant: 'globex' })?.ruleId).toBe('mistral-api');
    expect(c.explain({ host: 'api.mistral.ai', tenant: 'acme' }).reasons).toEqual(['rule acme-mistral-proxy wins: a tenant rule beats a default rule']);
  });

  it('explain never shows another tenant\'s rules', () => {
    const e = c.explain({ host: 'api.openai.com', tenant: 'globex' });
    expect(JSON.stringify(e)).not.toContain('acme');
    expect(c.explain({ host: 'eu.llm-gw.acme.internal', tenant: 'globex' }).unmet).toEqual([]);
  });

  it('memo is shared across tenants without leaking decisions', () => {
    for (let i = 0; i < 3; i++) {
      expect(c.classify({ host: 'api.mistral.ai', tenant: 'acme' })?.ruleId).toBe('acme-mistral-proxy');
      expect(c.classify({ host: 'api.mistral.ai' })?.ruleId).toBe('mistral-api');
    }
  });
});
