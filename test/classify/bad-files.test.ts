/** Malformed rule files: each problem names file, line, rule id and what is wrong; hot reload. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LlmtapError } from '../../src/errors.js';
import { Classifier } from '../../src/classify/index.js';

const dir = mkdtempSync(join(tmpdir(), 'llmtap-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = `format: llmtap-rules/1
rules:
  - id: one
    category: api
    provider: P
    match: { hosts: [a.example] }
    source: test
`;

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function loadError(text: string, name = 'bad.yaml'): LlmtapError {
  try {
    Classifier.fromFiles({ rules: write(name, text) });
  } catch (e) {
    expect(e).toBeInstanceOf(LlmtapError);
    expect((e as LlmtapError).code).toBe('LLMTAP_ERR_RULES');
    return e as LlmtapError;
  }
  throw new Error('expected the load to fail');
}

const withRule = (body: string): string => `${GOOD}  - id: two\n${body}`;

describe('rule file validation', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['duplicate id', `${GOOD}${GOOD.split('rules:\n')[1] ?? ''}`, /bad\.yaml:8: rule one: duplicate id \(first at rule #1\)/],
    ['unknown category', withRule('    category: chat\n    provider: P\n    match: { hosts: [b.example] }\n    source: s\n'), /bad\.yaml:9: rule two: category must be one of api, assistant/],
    ['missing source', withRule('    category: api\n    provider: P\n    match: { hosts: [b.example] }\n'), /bad\.yaml:8: rule two: is missing "source"/],
    ['bad host name', withRule('    category: api\n    provider: P\n    match: { hosts: ["bad host"] }\n    source: s\n'), /bad\.yaml:11: rule two: match\.hosts\[0\] is not a valid name here/],
    ['unknown key', withRule('    category: api\n    provider: P\n    match: { host: [b.example] }\n    source: s\n'), /rule two: match has unknown key "host"/],
    ['unknown placeholder', withRule('    category: api\n    provider: P\n    match: { patterns: ["x.{region}.example.com"] }\n    source: s\n'), /rule two: pattern "x\.\{region\}\.example\.com" uses unknown placeholder \{region\}/],
    ['pattern too loose', withRule('    category: api\n    provider: P\n    match: { patterns: ["{label}.com"] }\n    source: s\n'), /rule two: pattern "\{label\}\.com" needs at least two fixed trailing labels/],
    ['colliding port alone', withRule('    category: local_llm\n    provider: P\n    match: { ports: [8080], localhost_only: true }\n    source: s\n'), /rule two: port 8080 collides with ordinary web apps/],
    ['requires without the signal', withRule('    category: local_llm\n    provider: P\n    match: { ports: [8000], requires: [process] }\n    source: s\n'), /rule two: requires "process" but the rule lists no processes/],
    ['no signal', withRule('    category: local_llm\n    provider: P\n    match: { localhost_only: true }\n    source: s\n'), /rule two: match has no signal/],
    ['sanctioned outside a tenant file', withRule('    category: api\n    provider: P\n    sanctioned: true\n    match: { hosts: [b.example] }\n    source: s\n'), /rule two: "sanctioned" is allowed in tenant rule files only/],
    ['failing example', withRule('    category: api\n    provider: P\n    match: { suffixes: [b.example] }\n    source: s\n    examples: { match: [b.example.org] }\n'), /rule two: example "b\.example\.org" should match but does not/],
    ['YAML syntax', `${GOOD}  - id: [unclosed\n`, /bad\.yaml: line \d+: /],
    ['wrong format', GOOD.replace('llmtap-rules/1', 'other/2'), /bad\.yaml:1: format must be "llmtap-rules\/1"/],
  ];
  for (const [name, text, re] of cases) {
    it(name, () => {
      expect(loadError(text).message).toMatch(re);
    });
  }

  it('reports every problem of a file at once', () => {
    const m = loadError(withRule('    category: chat\n    provider: ""\n    match: {}\n    source: s\n')).message;
    expect(m).toMatch(/category must be one of/);
    expect(m).toMatch(/provider must NOT have fewer than 1 characters/);
    expect(m).toMatch(/match must NOT have fewer than 1 properties/);
  });

  it('JSON rule files are accepted and checked the same way', () => {
    const p = write('r.json', JSON.stringify({ format: 'llmtap-rules/1', rules: [{ id: 'j', category: 'api', provider: 'P', match: { hosts: ['j.example'] }, source: 's' }] }));
    expect(Classifier.fromFiles({ rules: p }).classify({ host: 'j.example' })?.ruleId).toBe('j');
    expect(loadError('{"format": "llmtap-rules/1", "rules": [', 'x.json').message).toMatch(/x\.json: not valid JSON/);
  });

  it('a missing file is a coded error, not a crash', () => {
    expect(() => Classifier.fromFiles({ rules: join(dir, 'nope.yaml') })).toThrow(/nope\.yaml: cannot read \(ENOENT\)/);
  });

  it('warns about a rule that is fully shadowed', () => {
    const p = write(
      'shadow.yaml',
      `${GOOD}  - id: copy
    category: assistant
    provider: Q
    match: { hosts: [a.example] }
    source: s
  - id: under-suffix
    category: agent
    provider: R
    match: { hosts: [x.b.example] }
    source: s
  - id: wide
    category: api
    provider: W
    match: { suffixes: [b.example] }
    source: s
  - id: pinned
    category: api
    provider: Z
    match: { hosts: [a.example], ports: [4319] }
    source: s
`,
    );
    const k = Classifier.fromFiles({ rules: p });
    expect(k.warnings).toEqual([
      'shadow.yaml: rule copy: fully shadowed by rule one (it can never decide)',
      'shadow.yaml: rule under-suffix: fully shadowed by rule wide (it can never decide)',
    ]);
  });

  it('tenant files: must name the tenant, must not reuse default ids', () => {
    const main = write('main.yaml', GOOD);
    const tdir = join(dir, 't1');
    const tdir2 = join(dir, 't2');
    for (const d of [tdir, tdir2]) mkdirSync(d, { recursive: true });
    writeFileSync(join(tdir, 'a.yaml'), GOOD);
    expect(() => Classifier.fromFiles({ rules: main, tenantDir: tdir })).toThrow(/a\.yaml: a tenant rule file must name its "tenant"/);
    writeFileSync(join(tdir2, 'b.yaml'), GOOD.replace('rules:', 'tenant: acme\nrules:'));
    expect(() => Classifier.fromFiles({ rules: main, tenantDir: tdir2 })).toThrow(/b\.yaml: rule one: duplicate id \(also a default rule\)/);
  });
});

describe('hot reload', () => {
  it('swaps in valid new rules and keeps the old ones on a bad file', () => {
    const p = write('live.yaml', GOOD);
    const k = Classifier.fromFiles({ rules: p });
    const v1 = k.version;
    expect(k.classify({ host: 'a.example' })?.ruleId).toBe('one');

    writeFileSync(p, GOOD.replace('category: api', 'category: chat'));
    const bad = k.reload();
    expect(bad.ok).toBe(false);
    expect(bad.ok === false && bad.error).toMatch(/live\.yaml:4: rule one: category must be one of/);
    expect(k.version).toBe(v1);
    expect(k.classify({ host: 'a.example' })?.ruleId).toBe('one');

    writeFileSync(p, GOOD.replace('a.example', 'c.example'));
    const good = k.reload();
    expect(good).toEqual({ ok: true, version: k.version });
    expect(k.version).not.toBe(v1);
    expect(k.classify({ host: 'a.example' })).toBeUndefined();
    expect(k.classify({ host: 'c.example' })?.ruleId).toBe('one');
    const s = k.stats();
    expect(s['reloads']).toBe(1);
    expect(s['reload_failures']).toBe(1);
    expect(s['queries']).toBe(4); // counters survive the swap
  });
});
