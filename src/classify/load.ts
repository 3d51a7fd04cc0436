/**
 * Loads and validates rule files: the default rule set (YAML or JSON) and the tenant files
 * (`<tenantDir>/*.yaml|*.yml|*.json`, one tenant each). Every problem names the file, the line
 * (YAML), the rule id and what is wrong; all problems of a load are reported together. Valid
 * files that contain fully shadowed rules load with warnings.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { LlmtapError } from '../errors.js';
import { compileIndex } from './compile.js';
import type { DocPath } from './schema.js';
import { pathText, schemaProblems } from './schema.js';
import { findShadowed } from './shadow.js';
import type { ExcludedHost, RuleSet, RuleSpec, TenantRules } from './types.js';
import { ruleProblems } from './validate.js';

/** One parsed rule file (format llmtap-rules/1). */
export interface RuleFile {
  format: 'llmtap-rules/1';
  tenant?: string;
  rules: RuleSpec[];
  excluded?: ExcludedHost[];
}

export interface LoadedRules {
  set: RuleSet;
  warnings: string[];
}

/** A file's text parsed into data plus a way to find the line of a path (YAML only). */
interface Parsed {
  data: unknown;
  lineOf: (path: DocPath) => number | undefined;
  syntax: string[];
}

function parseText(text: string, file: string): Parsed {
  if (/\.json$/i.test(file)) {
    try {
      return { data: JSON.parse(text) as unknown, lineOf: () => undefined, syntax: [] };
    } catch (e) {
      return { data: undefined, lineOf: () => undefined, syntax: [`not valid JSON (${(e as Error).message})`] };
    }
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const syntax = doc.errors.map((e) => `line ${lc.linePos(e.pos[0]).line}: ${e.message.split('\n')[0] ?? e.code}`);
  const lineOf = (path: DocPath): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node !== undefined && node !== null && typeof node === 'object' && node.range) return lc.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return { data: syntax.length > 0 ? undefined : (doc.toJS() as unknown), lineOf, syntax };
}

function ruleIdAt(data: unknown, path: DocPath): string | undefined {
  if (path[0] !== 'rules' || typeof path[1] !== 'number') return undefined;
  const rules = (data as { rules?: unknown }).rules;
  const r = Array.isArray(rules) ? (rules[path[1]] as { id?: unknown } | undefined) : undefined;
  return typeof r?.id === 'string' ? r.id : `#${path[1] + 1}`;
}

/**
 * Parses and validates one file's text. Returns the file or the list of problems, each
 * "file:line: rule <id>: <key> <problem>".
 */
export function parseRuleFile(text: string, file: string): { ok: true; file: RuleFile } | { ok: false; problems: string[] } {
  const name = basename(file);
  const p = parseText(text, file);
  if (p.syntax.length > 0) return { ok: false, problems: p.syntax.map((s) => `${name}: ${s}`) };
  const where = (path: DocPath): string => {
    const line = p.lineOf(path);
    const id = ruleIdAt(p.data, path);
    return `${name}${line === undefined ? '' : `:${line}`}: ${id === undefined ? '' : `rule ${id}: `}`;
  };
  const schema = schemaProblems(p.data);
  if (schema.length > 0) {
    const key = (path: DocPath): string => {
      const inRule = path[0] === 'rules' && path.length >= 2;
      return inRule && path.length === 2 ? '' : `${pathText(path.slice(inRule ? 2 : 0))} `;
    };
    return { ok: false, problems: schema.map((s) => `${where(s.path)}${key(s.path)}${s.message}`) };
  }
  const rf = p.data as RuleFile;
  const problems: string[] = [];
  const seen = new Map<string, number>();
  rf.rules.forEach((r, i) => {
    const first = seen.get(r.id);
    if (first !== undefined) problems.push(`${where(['rules', i])}duplicate id (first at rule #${first + 1})`);
    else seen.set(r.id, i);
    for (const msg of ruleProblems(r, rf.tenant !== undefined)) problems.push(`${where(['rules', i, 'match'])}${msg}`);
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, file: rf };
}

/**
 * Combines a default file and tenant files into a rule set, checking what spans files: a
 * tenant appears once, tenant rule ids do not reuse default ids. Returns warnings for fully
 * shadowed rules. Throws LlmtapError LLMTAP_ERR_RULES with every problem.
 */
export function buildRuleSet(main: { name: string; file: RuleFile }, tenants: Array<{ name: string; file: RuleFile }>): LoadedRules {
  const problems: string[] = [];
  if (main.file.tenant !== undefined) problems.push(`${main.name}: the default rule file must not name a tenant`);
  const defaultIds = new Set(main.file.rules.map((r) => r.id));
  const tenantRules: TenantRules[] = [];
  const seenTenants = new Map<string, string>();
  for (const t of tenants) {
    const tenant = t.file.tenant;
    if (tenant === undefined) {
      problems.push(`${t.name}: a tenant rule file must name its "tenant"`);
      continue;
    }
    const prev = seenTenants.get(tenant);
    if (prev !== undefined) problems.push(`${t.name}: tenant "${tenant}" already defined in ${prev}`);
    seenTenants.set(tenant, t.name);
    if ((t.file.excluded ?? []).length > 0) problems.push(`${t.name}: "excluded" belongs in the default rule file`);
    for (const r of t.file.rules) {
      if (defaultIds.has(r.id)) problems.push(`${t.name}: rule ${r.id}: duplicate id (also a default rule)`);
    }
    tenantRules.push({ tenant, rules: t.file.rules });
  }
  if (problems.length > 0) throw new LlmtapError('LLMTAP_ERR_RULES', problems.join('; '));
  tenantRules.sort((a, b) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0));
  const set: RuleSet = { rules: main.file.rules, excluded: main.file.excluded ?? [], tenants: tenantRules };
  const owner = new Map<string, string>();
  for (const r of set.rules) owner.set(r.id, main.name);
  for (const t of tenants) for (const r of t.file.rules) owner.set(`${t.file.tenant ?? ''}/${r.id}`, t.name);
  const warnings: string[] = [];
  for (const { rule, by } of findShadowed(compileIndex(set))) {
    const file = owner.get(rule.tenant === undefined ? rule.id : `${rule.tenant}/${rule.id}`) ?? '?';
    warnings.push(`${file}: rule ${rule.id}: fully shadowed by rule ${by.join(', ')} (it can never decide)`);
  }
  return { set, warnings };
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new LlmtapError('LLMTAP_ERR_RULES', `${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
}

function parseOrThrow(path: string): { name: string; file: RuleFile } {
  const r = parseRuleFile(readText(path), path);
  if (!r.ok) throw new LlmtapError('LLMTAP_ERR_RULES', r.problems.join('; '));
  return { name: basename(path), file: r.file };
}

/** Reads the default rule file and every tenant file; throws LlmtapError LLMTAP_ERR_RULES. */
export function loadRuleFiles(paths: { rules: string; tenantDir?: string }): LoadedRules {
  const main = parseOrThrow(paths.rules);
  const tenants: Array<{ name: string; file: RuleFile }> = [];
  if (paths.tenantDir !== undefined) {
    let names: string[];
    try {
      names = readdirSync(paths.tenantDir).filter((n) => /\.(ya?ml|json)$/i.test(n)).sort();
    } catch (e) {
      throw new LlmtapError('LLMTAP_ERR_RULES', `${paths.tenantDir}: cannot read tenant directory`, { cause: e });
    }
    for (const n of names) tenants.push(parseOrThrow(join(paths.tenantDir, n)));
  }
  return buildRuleSet(main, tenants);
}
