/**
 * `llmtap rules export --format zeek-intel | suricata`: grammar tests (no Zeek or Suricata in
 * Debian 12 to load them): the Intel file as Zeek's ASCII input reader reads it, the Suricata
 * rules through a parser of the rule language (header, options, quoting and escaping, sticky
 * buffers before their content, modifiers after it, PCRE delimiters), then what the rules would
 * match: each exported rule's content/PCRE applied as Suricata applies them to the rule's own
 * match and no-match examples; sids unique and stable when rules are added.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it, beforeAll } from 'vitest';
import { DEFAULT_RULES_PATH } from '../../src/classify/classifier.js';
import { loadRuleFiles } from '../../src/classify/load.js';
import { normalizeHost } from '../../src/classify/normalize.js';
import { SID_BASE, toSuricataRules, toZeekIntel } from '../../src/classify/sensor-export.js';
import type { RuleSet, RuleSpec } from '../../src/classify/types.js';
import { ensureBuilt } from '../helpers/build-once.js';
import { repoRoot } from '../helpers/corpus.js';

const set: RuleSet = loadRuleFiles({ rules: DEFAULT_RULES_PATH }).set;
const V = 'sha256-test';

/** Rules a name-only sensor can express (the export's own criterion, restated). */
const eligible = (r: RuleSpec): boolean =>
  ((r.match.hosts ?? []).length + (r.match.suffixes ?? []).length + (r.match.patterns ?? []).length) > 0 &&
  (r.match.processes ?? []).length === 0 && r.match.localhost_only !== true;
const needsPort = (r: RuleSpec): boolean => (r.match.ports ?? []).length > 0 && (r.match.requires ?? []).length > 0;

describe('Zeek Intel file', () => {
  const { text, notes } = toZeekIntel(set, V);
  const lines = text.split('\n');

  it('is the #fields header and tab-separated indicator lines, nothing else', () => {
    expect(lines[0]).toBe('#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc');
    expect(lines[lines.length - 1]).toBe(''); // ends with a newline
    const body = lines.slice(1, -1);
    expect(body.length).toBeGreaterThan(50);
    const ids = new Set(set.rules.map((r) => r.id));
    const seen = new Set<string>();
    for (const l of body) {
      expect(l.startsWith('#')).toBe(false);
      const f = l.split('\t');
      expect(f).toHaveLength(4);
      const [indicator = '', type, source = '', desc = ''] = f;
      expect(normalizeHost(indicator).name).toBe(indicator); // lower-case, valid labels, no port or trailing dot
      expect(indicator).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/);
      expect(type).toBe('Intel::DOMAIN');
      expect(source).toMatch(/^llmtap:/);
      expect(ids.has(source.slice('llmtap:'.length))).toBe(true);
      expect(desc).toMatch(/; llmtap rules sha256-test$/);
      expect(desc).not.toMatch(/[\t\r\n]/);
      expect(seen.has(`${indicator}|${source}`)).toBe(false);
      seen.add(`${indicator}|${source}`);
    }
  });

  it('holds every exact host and suffix apex of the rules a sensor can match, and says what it left out', () => {
    const want = new Set<string>();
    for (const r of set.rules) {
      if (!eligible(r) || needsPort(r)) continue;
      for (const h of [...(r.match.hosts ?? []), ...(r.match.suffixes ?? []).map((s) => s.replace(/^\./, ''))]) want.add(`${h.toLowerCase()}|llmtap:${r.id}`);
    }
    const got = new Set(lines.slice(1, -1).map((l) => { const f = l.split('\t'); return `${f[0]}|${f[2]}`; }));
    expect([...got].sort()).toEqual([...want].sort());
    expect(got.has('api.openai.com|llmtap:openai-api')).toBe(true);
    for (const r of set.rules) {
      if (!eligible(r)) expect(notes.some((n) => n.startsWith(`${r.id}: `))).toBe(true);
      for (const t of eligible(r) && !needsPort(r) ? r.match.patterns ?? [] : []) expect(notes).toContain(`${r.id}: template ${t} (Zeek's Intel framework matches exact domains only)`);
    }
  });
});

// ───────────────────────────── a Suricata rule parser ─────────────────────────────

interface Opt { key: string; value?: string }
interface ParsedRule { action: string; proto: string; dport: string; opts: Opt[] }

const STICKY: Record<string, string> = { 'tls.sni': 'tls', 'dns.query': 'dns', 'quic.sni': 'quic' };
const FLAGS = new Set(['nocase', 'startswith', 'endswith', ...Object.keys(STICKY)]);
const VALUED = new Set(['msg', 'content', 'pcre', 'classtype', 'sid', 'rev', 'metadata']);

/** Parses one rule; throws with the reason on any grammar error. */
function parseRule(line: string): ParsedRule {
  const m = /^(alert) (tls|dns|quic) any any -> any (any|\d{1,5}|\[\d{1,5}(?:,\d{1,5})*\]) \((.*)\)$/.exec(line);
  if (!m) throw new Error(`bad header: ${line}`);
  const body = m[4]!;
  const opts: Opt[] = [];
  let i = 0;
  while (i < body.length) {
    while (body[i] === ' ') i++;
    if (i >= body.length) break;
    const k0 = i;
    while (i < body.length && body[i] !== ':' && body[i] !== ';') i++;
    const key = body.slice(k0, i);
    if (!/^[a-z.]+$/.test(key)) throw new Error(`bad keyword '${key}'`);
    if (body[i] === ';') {
      if (!FLAGS.has(key)) throw new Error(`${key} needs a value`);
      opts.push({ key });
      i++;
      continue;
    }
    i++; // ':'
    if (!VALUED.has(key)) throw new Error(`unknown or flag keyword with value: ${key}`);
    let value = '';
    if (body[i] === '"') {
      i++;
      for (;;) {
        const c = body[i];
        if (c === undefined) throw new Error(`unterminated quote in ${key}`);
        if (c === '\\') {
          const n = body[i + 1];
          // msg and content know only \\ \" \; ; a PCRE keeps its own escapes (\. \/ …)
          if (n === undefined || (key !== 'pcre' && !'\\";'.includes(n))) throw new Error(`bad escape \\${n ?? ''} in ${key}`);
          value += `\\${n}`;
          i += 2;
          continue;
        }
        if (c === '"') { i++; break; }
        if (c === ';') throw new Error(`unescaped ; inside ${key}`);
        value += c;
        i++;
      }
      if (body[i] !== ';') throw new Error(`missing ; after ${key}`);
      i++;
    } else {
      const v0 = i;
      while (i < body.length && body[i] !== ';') {
        if (body[i] === '"') throw new Error(`stray quote in ${key}`);
        i++;
      }
      if (body[i] !== ';') throw new Error(`missing ; after ${key}`);
      value = body.slice(v0, i);
      i++;
    }
    opts.push({ key, value });
  }
  return { action: m[1]!, proto: m[2]!, dport: m[3]!, opts };
}

const unescape = (v: string): string => v.replace(/\\(.)/g, '$1');

/** What Suricata would do with the rule's buffer content: every content and pcre must match `name`. */
function matches(r: ParsedRule, name: string): boolean {
  let cur: { content: string; nocase: boolean; start: boolean; end: boolean } | undefined;
  const checks: Array<(n: string) => boolean> = [];
  const flush = (): void => {
    if (cur === undefined) return;
    const c = cur;
    checks.push((n) => {
      const a = c.nocase ? n.toLowerCase() : n;
      const b = c.nocase ? c.content.toLowerCase() : c.content;
      if (c.start && c.end) return a === b;
      if (c.end) return a.endsWith(b);
      if (c.start) return a.startsWith(b);
      return a.includes(b);
    });
    cur = undefined;
  };
  for (const o of r.opts) {
    if (o.key === 'content') { flush(); cur = { content: unescape(o.value!), nocase: false, start: false, end: false }; }
    else if (o.key === 'nocase') cur!.nocase = true;
    else if (o.key === 'startswith') cur!.start = true;
    else if (o.key === 'endswith') cur!.end = true;
    else if (o.key === 'pcre') {
      flush();
      const pm = /^\/(.*)\/([a-z]*)$/.exec(o.value!)!;
      const re = new RegExp(pm[1]!.replace(/\\([/;"])/g, '$1'), pm[2]!.replace(/[^imsx]/g, ''));
      checks.push((n) => re.test(n));
    }
  }
  flush();
  return checks.every((c) => c(name));
}

describe('Suricata rules', () => {
  const { text, notes } = toSuricataRules(set, V);
  const lines = text.trimEnd().split('\n');
  const ruleLines = lines.filter((l) => !l.startsWith('#'));
  let parsed: ParsedRule[];

  beforeAll(() => {
    parsed = ruleLines.map(parseRule);
  });

  it('every line is a comment or a rule that parses, with its options in a valid order', () => {
    expect(ruleLines.length).toBeGreaterThan(100);
    const sids = new Set<number>();
    for (const r of parsed) {
      const keys = r.opts.map((o) => o.key);
      expect(keys[0]).toBe('msg');
      const sticky = keys[1]!;
      expect(STICKY[sticky]).toBe(r.proto); // tls.sni on tls, dns.query on dns, quic.sni on quic
      // content modifiers only after a content of the same buffer; pcre only after the buffer
      let sawContent = false;
      for (const k of keys.slice(2)) {
        if (k === 'content') sawContent = true;
        if (['nocase', 'startswith', 'endswith'].includes(k)) expect(sawContent).toBe(true);
      }
      expect(keys.slice(-4)).toEqual(['classtype', 'sid', 'rev', 'metadata']);
      const get = (k: string): string => r.opts.find((o) => o.key === k)!.value!;
      expect(get('classtype')).toBe('policy-violation');
      expect(get('rev')).toBe('1');
      const sid = Number(get('sid'));
      expect(Number.isInteger(sid) && sid >= SID_BASE && sid < 2 ** 32).toBe(true);
      expect(sids.has(sid)).toBe(false);
      sids.add(sid);
      const meta = Object.fromEntries(get('metadata').split(', ').map((kv) => kv.split(' ') as [string, string]));
      expect(Object.keys(meta).sort()).toEqual(['category', 'llmtap_rule', 'llmtap_rules_version', 'provider', 'signal']);
      for (const v of Object.values(meta)) expect(v).toMatch(/^[^\s,;]+$/);
      expect(set.rules.some((x) => x.id === meta['llmtap_rule'])).toBe(true);
      if (r.proto === 'dns') expect(r.dport).toBe('any');
    }
  });

  it('each rule matches its llmtap rule’s examples and none of its counter-examples', () => {
    let checked = 0;
    for (const rule of set.rules.filter(eligible)) {
      const mine = parsed.filter((p) => p.opts.some((o) => o.key === 'metadata' && o.value!.startsWith(`llmtap_rule ${rule.id},`)));
      expect(mine.length).toBeGreaterThan(0);
      for (const b of ['tls', 'dns', 'quic']) {
        const inBuf = mine.filter((p) => p.proto === b);
        if (b === 'dns' && needsPort(rule)) {
          expect(inBuf).toEqual([]);
          continue;
        }
        for (const h of rule.match.hosts ?? []) expect(inBuf.some((p) => matches(p, h.toUpperCase()))).toBe(true);
        for (const sfx of rule.match.suffixes ?? []) {
          const apex = sfx.replace(/^\./, '');
          expect(inBuf.some((p) => matches(p, `x.${apex}`) && matches(p, apex))).toBe(true);
          expect(inBuf.some((p) => matches(p, `x${apex}`))).toBe(false); // dot-bounded
        }
        for (const ex of rule.examples?.match ?? []) {
          const host = ex.split(/[ :]/)[0]!;
          if (/^[a-z0-9.-]+$/i.test(host) && host.includes('.')) {
            expect({ rule: rule.id, b, host, hit: inBuf.some((p) => matches(p, host)) }).toEqual({ rule: rule.id, b, host, hit: true });
            checked++;
          }
        }
        for (const ex of rule.examples?.nomatch ?? []) {
          const host = ex.split(/[ :]/)[0]!;
          if (/^[a-z0-9.-]+$/i.test(host)) expect({ rule: rule.id, host, hit: inBuf.some((p) => matches(p, host)) }).toEqual({ rule: rule.id, host, hit: false });
        }
      }
    }
    expect(checked).toBeGreaterThan(0);
    // a template's PCRE is anchored: the region placeholder matches a region, not any label
    const bedrock = parsed.filter((p) => p.proto === 'tls' && p.opts.some((o) => o.value?.startsWith('llmtap_rule aws-bedrock-runtime,')));
    expect(bedrock.some((p) => matches(p, 'bedrock-runtime.us-east-1.amazonaws.com'))).toBe(true);
    expect(bedrock.some((p) => matches(p, 'bedrock-runtime.evil.amazonaws.com'))).toBe(false);
    expect(bedrock.some((p) => matches(p, 'bedrock-runtime.us-east-1.amazonaws.com.evil.example'))).toBe(false);
    // rules that need an endpoint feed are comments, not rules
    for (const r of set.rules.filter((x) => !eligible(x))) expect(lines).toContain(`# not exported: ${notes.find((n) => n.startsWith(`${r.id}: `))}`);
  });

  it('sids are stable: the same export twice, and adding a rule renumbers nothing', () => {
    expect(toSuricataRules(set, V).text).toBe(text);
    const sidOf = (t: string): Map<string, string> => new Map(t.split('\n').filter((l) => l.startsWith('alert')).map((l) => [l.replace(/ sid:\d+;/, ''), /sid:(\d+);/.exec(l)![1]!]));
    const before = sidOf(text);
    const extra: RuleSpec = { id: 'zz-new-service', category: 'api', provider: 'NewCo', match: { hosts: ['api.newco.example'] }, source: 'test' };
    const after = sidOf(toSuricataRules({ ...set, rules: [extra, ...set.rules] }, V).text);
    expect(after.size).toBe(before.size + 3);
    for (const [rule, sid] of before) expect(after.get(rule)).toBe(sid);
  });
});

describe('llmtap rules export --format', () => {
  beforeAll(() => ensureBuilt());
  const cli = (args: string[]) => spawnSync(process.execPath, [join(repoRoot, 'bin', 'llmtap.js'), 'rules', 'export', ...args], { encoding: 'utf8' });

  it('writes the Zeek Intel file and the Suricata rules, notes on stderr; refuses an unknown format', () => {
    const z = cli(['--format', 'zeek-intel']);
    expect(z.status).toBe(0);
    expect(z.stdout.split('\n')[0]).toBe('#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc');
    expect(z.stdout).toContain('api.openai.com\tIntel::DOMAIN\tllmtap:openai-api\t');
    expect(z.stderr).toContain('not exported to zeek-intel: ');
    const s = cli(['--format', 'suricata']);
    expect(s.status).toBe(0);
    expect(s.stdout).toMatch(/^alert tls any any -> any (?:any|443|\[[0-9,]+\]) \(msg:"llmtap OpenAI api: api\.openai\.com \(TLS SNI\)"; tls\.sni; content:"api\.openai\.com"; nocase; startswith; endswith;/m);
    const bad = cli(['--format', 'snort']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("--format must be json, zeek-intel or suricata (got 'snort')");
  });
});
