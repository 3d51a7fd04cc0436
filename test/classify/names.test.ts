/** Host and process normalisation: look-alikes, case, trailing dot, IDNA, invalid names. */
import { describe, expect, it } from 'vitest';
import { Classifier } from '../../src/classify/index.js';
import { normalizeHost, normalizeProcess } from '../../src/classify/normalize.js';
import { DEFAULT_RULES } from './helpers.js';

const c = Classifier.fromFiles({ rules: DEFAULT_RULES });
const id = (host: string): string | undefined => c.classify({ host })?.ruleId;

describe('host matching', () => {
  it('suffix rules are dot-bounded', () => {
    expect(id('x.openai.azure.com')).toBe('azure-openai');
    expect(id('my-resource.openai.azure.com')).toBe('azure-openai');
    expect(id('evilopenai.azure.com.attacker.net')).toBeUndefined();
    expect(id('xopenai.azure.com')).toBeUndefined();
    expect(id('openai.azure.com.attacker.net')).toBeUndefined();
    expect(id('azure.com')).toBeUndefined();
    expect(id('notclaude.ai')).toBeUndefined();
    expect(id('claude.ai.evil.net')).toBeUndefined();
    expect(id('michigan-claude.ai')).toBeUndefined();
  });

  it('exact rules do not match below or beside the name', () => {
    expect(id('api.openai.com')).toBe('openai-api');
    expect(id('x.api.openai.com')).toBeUndefined();
    expect(id('api.openai.com.attacker.net')).toBeUndefined();
    expect(id('api-openai.com')).toBeUndefined();
    expect(id('openai.com')).toBeUndefined();
  });

  it('is case- and trailing-dot-insensitive, and ignores a :port', () => {
    expect(id('API.ANTHROPIC.COM')).toBe('anthropic-api');
    expect(id('api.anthropic.com.')).toBe('anthropic-api');
    expect(id('api.anthropic.com:443')).toBe('anthropic-api');
    expect(id('api.anthropic.com..')).toBeUndefined();
  });

  it('maps IDNA (UTS #46) and keeps homographs apart', () => {
    // Full-width letters map to ASCII under UTS #46: the same name.
    expect(id('api.ｏｐｅｎａｉ.com')).toBe('openai-api');
    expect(id('ＣＨＡＴＧＰＴ.ＣＯＭ')).toBe('openai-chatgpt');
    // Cyrillic "а" is a different name, in Unicode and in punycode.
    expect(id('аpi.openai.com')).toBeUndefined();
    expect(normalizeHost('аpi.openai.com').name).toBe('xn--pi-6kc.openai.com');
    expect(id('xn--pi-6kc.openai.com')).toBeUndefined();
    // An internationalised label under a suffix rule still matches the suffix.
    expect(normalizeHost('bücher.openai.azure.com').name).toBe('xn--bcher-kva.openai.azure.com');
    expect(id('bücher.openai.azure.com')).toBe('azure-openai');
    expect(id('xn--bcher-kva.openai.azure.com')).toBe('azure-openai');
    expect(id('claude.ai\u3002')).toBe('anthropic-claude'); // ideographic full stop
  });

  it('rejects malformed names with a reason instead of throwing', () => {
    expect(normalizeHost('').problem).toBe('classify.host_empty');
    expect(normalizeHost('api..openai.com').problem).toBe('classify.host_syntax');
    expect(normalizeHost('-api.openai.com').problem).toBe('classify.host_syntax');
    expect(normalizeHost('api openai.com').problem).toBe('classify.host_syntax');
    expect(normalizeHost(`${'a'.repeat(64)}.openai.azure.com`).problem).toBe('classify.host_syntax');
    expect(normalizeHost(`${'a.'.repeat(130)}com`).problem).toBe('classify.host_too_long');
    expect(normalizeHost('xn--a.\u0000').problem).toBeDefined();
    for (const bad of ['api..openai.com', `${'a'.repeat(64)}.openai.azure.com`, '\u0000', '*.openai.azure.com']) expect(id(bad)).toBeUndefined();
    expect(c.stats()['bad_hosts']).toBeGreaterThan(0);
  });

  it('address literals match no host rule; loopback literals make the query loopback', () => {
    expect(normalizeHost('160.79.104.10')).toEqual({ address: '160.79.104.10', loopback: false });
    expect(normalizeHost('[::1]:11434').loopback).toBe(true);
    expect(normalizeHost('127.0.0.53').loopback).toBe(true);
    expect(normalizeHost('foo.localhost').loopback).toBe(true);
    expect(c.classify({ host: '127.0.0.1', port: 11434 })?.provider).toBe('Ollama');
    expect(c.classify({ host: '192.168.1.20', port: 11434 })).toBeUndefined();
  });

  it('normalises process names to lower-case basenames without .exe', () => {
    expect(normalizeProcess('C:\\Program Files\\Ollama\\Ollama.EXE')).toBe('ollama');
    expect(normalizeProcess('/usr/bin/llama-server')).toBe('llama-server');
    expect(normalizeProcess('  LM Studio ')).toBe('lm studio');
  });
});
