/** `llmtap rules explain | export | check`, output captured from process.stdout. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { rulesCommand } from '../../src/cli/rules.js';
import { Classifier, classifierFromExport } from '../../src/classify/index.js';
import { DEFAULT_RULES } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'llmtap-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let stdout = '';
let stderr = '';
beforeEach(() => {
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
});
afterEach(() => vi.restoreAllMocks());

describe('llmtap rules', () => {
  it('explain prints the deciding rule, the other matches and why', async () => {
    expect(await rulesCommand(['explain', 'API.X.AI.', '--process', 'openai', '--port', '443'])).toBe(0);
    expect(stdout).toContain('verdict:  api / xAI');
    expect(stdout).toContain('decided:  xai-api  api / xAI  by exact api.x.ai');
    expect(stdout).toContain('also:     xai-grok  assistant / xAI  by suffix x.ai');
    expect(stdout).toContain('why:      rule xai-api wins: category api beats sdk');
    expect(await rulesCommand(['explain', 'localhost', '--port', '8080', '--json'])).toBe(0);
    const j = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { verdict: unknown; unmet: Array<{ ruleId: string }> };
    expect(j.verdict).toBeNull();
    expect(j.unmet.map((u) => u.ruleId)).toContain('local-llama-cpp');
  });

  it('export writes the versioned document that loads back', async () => {
    const out = join(dir, 'rules.json');
    expect(await rulesCommand(['export', '--out', out])).toBe(0);
    const doc = JSON.parse(readFileSync(out, 'utf8')) as object;
    expect(classifierFromExport(doc).version).toBe(Classifier.fromFiles({ rules: DEFAULT_RULES }).version);
    expect(stderr).toMatch(/wrote .*rules\.json \(sha256-[0-9a-f]{16}, 81 rules\)/);
  });

  it('check reports a valid file, and every problem of an invalid one', async () => {
    expect(await rulesCommand(['check', DEFAULT_RULES])).toBe(0);
    expect(stdout).toMatch(/default\.yaml: OK, 81 rules \(api \d+, assistant \d+, sdk \d+, local_llm \d+, plugin \d+, agent \d+\), \d+ marked verify/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'format: llmtap-rules/1\nrules:\n  - id: a\n    category: chat\n    provider: P\n    match: { ports: [8080] }\n    source: s\n');
    stdout = '';
    expect(await rulesCommand(['check', bad])).toBe(2);
    expect(stdout).toContain('bad.yaml: INVALID (1 problem)');
    expect(stdout).toContain('error: bad.yaml:4: rule a: category must be one of');
  });

  it('usage errors exit 2', async () => {
    expect(await rulesCommand([])).toBe(2);
    expect(await rulesCommand(['explain'])).toBe(2);
    expect(await rulesCommand(['explain', 'h', '--port', '70000'])).toBe(2);
    expect(await rulesCommand(['explain', 'h', '--bogus'])).toBe(2);
    expect(stderr).toContain('usage:');
    expect(await rulesCommand(['explain', 'h', '--rules', join(dir, 'missing.yaml')])).toBe(2);
    expect(stderr).toContain('LLMTAP_ERR_RULES');
  });
});
