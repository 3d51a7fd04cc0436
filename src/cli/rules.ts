/**
 * `llmtap rules explain HOST|ADDRESS [--process NAME] [--server-process NAME] [--port N] [--loopback]
 *                            [--tenant T] [--rules FILE] [--tenant-dir DIR] [--json]`
 * `llmtap rules export [--format json|zeek-intel|suricata] [--out FILE] [--rules FILE] [--tenant-dir DIR]`
 * `llmtap rules check FILE [--rules FILE]`   (a tenant file is checked together with the rules)
 *
 * Exit codes (src/cli/exit.ts): 0 ok, 1 a file that cannot be read or written, 2 usage error or
 * invalid rules. `-h/--help` after `rules` or a subcommand prints the usage.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { isLlmtapError, LlmtapError } from '../errors.js';
import { canonicalJson } from '../classify/export.js';
import type { Explanation, ExplainedMatch } from '../classify/index.js';
import { Classifier, DEFAULT_RULES_PATH, parseRuleFile } from '../classify/index.js';
import type { RuleFile } from '../classify/load.js';
import { buildRuleSet } from '../classify/load.js';
import { CATEGORY_ORDER } from '../classify/types.js';
import { EXIT, exitCodeFor, printUsage, wantsHelp } from './exit.js';

const EXPLAIN_USAGE = `usage: llmtap rules explain HOST|ADDRESS [--process NAME] [--server-process NAME] [--port N] [--loopback]
                            [--tenant T] [--rules FILE] [--tenant-dir DIR] [--json]
  Which rule classifies HOST (with that client process, server process, port), and why; an
  ADDRESS stands for a connection without a name (the rules' published address ranges).`;
const EXPORT_USAGE = `usage: llmtap rules export [--format json|zeek-intel|suricata] [--out FILE] [--rules FILE] [--tenant-dir DIR]
  The effective rule set: one canonical JSON document, or a Zeek Intel file or Suricata rules
  (stdout, or FILE written atomically).`;
const CHECK_USAGE = `usage: llmtap rules check FILE [--rules FILE]
  Validates a rule file (a tenant file together with the default rules or --rules).`;
const EXIT_TEXT = 'exit codes: 0 success, 1 a file cannot be read or written, 2 usage error or invalid rules';
export const RULES_USAGE = `${EXPLAIN_USAGE}\n${EXPORT_USAGE}\n${CHECK_USAGE}\n\n${EXIT_TEXT}\n`;
const USAGE = RULES_USAGE;
const SUB_USAGE: Record<string, string> = {
  explain: `${EXPLAIN_USAGE}\n\n${EXIT_TEXT}\n`,
  export: `${EXPORT_USAGE}\n\n${EXIT_TEXT}\n`,
  check: `${CHECK_USAGE}\n\n${EXIT_TEXT}\n`,
};

function out(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
}

function err(s: string): void {
  process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);
}

function load(values: { rules?: string | undefined; 'tenant-dir'?: string | undefined }): Classifier {
  const paths: { rules: string; tenantDir?: string } = { rules: values.rules ?? DEFAULT_RULES_PATH };
  if (values['tenant-dir'] !== undefined) paths.tenantDir = values['tenant-dir'];
  return Classifier.fromFiles(paths);
}

function matchText(m: ExplainedMatch): string {
  const by: string[] = [];
  if (m.matchedBy.hostEntry !== undefined) by.push(`${m.matchedBy.hostKind} ${m.matchedBy.hostEntry}`);
  const range = m.matchedBy.rangeSource !== undefined ? `\n      range:  published by ${m.matchedBy.rangeSource}, taken ${m.matchedBy.rangeDate ?? '?'}` : '';
  if (m.matchedBy.port !== undefined) by.push(`port ${m.matchedBy.port}`);
  if (m.matchedBy.process !== undefined) by.push(`process ${m.matchedBy.process}`);
  if (m.matchedBy.loopback === true) by.push('loopback');
  const flags = [m.tenant === undefined ? '' : `tenant ${m.tenant}`, m.sanctioned ? 'sanctioned' : '', m.verify ? 'verify' : '', m.confidence !== 'high' ? `confidence ${m.confidence}` : '']
    .filter((x) => x !== '')
    .join(', ');
  return `${m.ruleId}  ${m.category} / ${m.provider}  by ${by.join(' + ')}${flags === '' ? '' : `  (${flags})`}\n      source: ${m.source}${range}`;
}

export function explanationText(e: Explanation): string {
  const q = e.query;
  const lines: string[] = [];
  const what = [q.normalizedHost ?? (q.address !== undefined ? `address ${q.address} (no host name)` : undefined) ?? q.host ?? '(no host)', q.port === undefined ? '' : `port ${q.port}`, q.processName === undefined ? '' : `process ${q.processName}`, q.serverProcessName === undefined ? '' : `server process ${q.serverProcessName}`, q.loopback ? 'loopback' : '', q.tenant === undefined ? '' : `tenant ${q.tenant}`]
    .filter((x) => x !== '')
    .join(', ');
  lines.push(`query:    ${what}`);
  if (q.hostProblem !== undefined) lines.push(`host:     not a valid name (${q.hostProblem})`);
  if (e.verdict === null || e.decidingRule === null) lines.push('verdict:  not AI traffic by these rules');
  else {
    const v = e.verdict;
    lines.push(`verdict:  ${v.category} / ${v.provider}${v.sanctioned ? ' (sanctioned)' : ''}${v.verify === true ? ' (verify)' : ''}${v.range !== undefined ? ` (by address range ${v.range}: host_source ip-range)` : ''}`);
    lines.push(`decided:  ${matchText(e.decidingRule)}`);
  }
  for (const o of e.otherMatches) lines.push(`also:     ${matchText(o)}`);
  for (const u of e.unmet) lines.push(`partial:  ${u.ruleId} (needs ${u.failed})`);
  for (const r of e.reasons) lines.push(`why:      ${r}`);
  if (e.excluded !== undefined) lines.push(`excluded: ${e.excluded.host}: ${e.excluded.reason}`);
  lines.push(`rules:    ${e.rulesVersion}`);
  return lines.join('\n');
}

function explain(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      process: { type: 'string' },
      'server-process': { type: 'string' },
      port: { type: 'string' },
      loopback: { type: 'boolean' },
      tenant: { type: 'string' },
      rules: { type: 'string' },
      'tenant-dir': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const host = positionals[0];
  if (host === undefined || positionals.length > 1) throw new LlmtapError('LLMTAP_ERR_USAGE', 'explain takes one HOST');
  const q: Parameters<Classifier['explain']>[0] = { host };
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new LlmtapError('LLMTAP_ERR_USAGE', `--port ${values.port} is not a port number`);
    q.port = port;
  }
  if (values.process !== undefined) q.processName = values.process;
  if (values['server-process'] !== undefined) q.serverProcessName = values['server-process'];
  if (values.loopback === true) q.loopback = true;
  if (values.tenant !== undefined) q.tenant = values.tenant;
  const e = load(values).explain(q);
  out(values.json === true ? JSON.stringify(e, null, 2) : explanationText(e));
  return 0;
}

function exportCmd(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { out: { type: 'string' }, rules: { type: 'string' }, 'tenant-dir': { type: 'string' }, format: { type: 'string', default: 'json' } },
  });
  if (positionals.length > 0) throw new LlmtapError('LLMTAP_ERR_USAGE', 'export takes no positional arguments');
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'zeek-intel' && format !== 'suricata') {
    throw new LlmtapError('LLMTAP_ERR_USAGE', `--format must be json, zeek-intel or suricata (got '${format}')`);
  }
  const c = load(values);
  let text: string;
  if (format === 'json') text = `${canonicalJson(c.exportDocument())}\n`;
  else {
    const x = c.sensorExport(format);
    text = x.text;
    for (const n of x.notes) err(`not exported to ${format}: ${n}`);
  }
  if (values.out === undefined) out(text);
  else {
    const tmp = `${values.out}.tmp`;
    try {
      writeFileSync(tmp, text);
      renameSync(tmp, values.out);
    } catch (e) {
      throw new LlmtapError('LLMTAP_ERR_IO', `${values.out}: cannot write`, { cause: e });
    }
    err(`wrote ${values.out} (${c.version}, ${c.ruleCount} rules)`);
  }
  return 0;
}

function check(args: string[]): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { rules: { type: 'string' } } });
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) throw new LlmtapError('LLMTAP_ERR_USAGE', 'check takes one FILE');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new LlmtapError('LLMTAP_ERR_IO', `${file}: cannot read`, { cause: e });
  }
  const parsed = parseRuleFile(text, file);
  if (!parsed.ok) {
    out(`${file}: INVALID (${parsed.problems.length} problem${parsed.problems.length === 1 ? '' : 's'})`);
    for (const p of parsed.problems) out(`  error: ${p}`);
    return EXIT.usage;
  }
  const f: RuleFile = parsed.file;
  let main = { name: basename(file), file: f };
  const tenants: Array<{ name: string; file: RuleFile }> = [];
  if (f.tenant !== undefined) {
    const mainPath = values.rules ?? DEFAULT_RULES_PATH;
    const m = parseRuleFile(readFileSync(mainPath, 'utf8'), mainPath);
    if (!m.ok) throw new LlmtapError('LLMTAP_ERR_RULES', m.problems.join('; '));
    main = { name: basename(mainPath), file: m.file };
    tenants.push({ name: basename(file), file: f });
  }
  const loaded = buildRuleSet(main, tenants);
  const counts = CATEGORY_ORDER.map((c) => `${c} ${f.rules.filter((r) => r.category === c).length}`).join(', ');
  const verify = f.rules.filter((r) => r.verify === true).length;
  const c = Classifier.fromRuleSet(loaded.set);
  out(`${file}: OK, ${f.rules.length} rules (${counts}), ${verify} marked verify${f.tenant === undefined ? '' : `, tenant ${f.tenant}`}`);
  out(`  version: ${c.version}`);
  for (const w of loaded.warnings) out(`  warning: ${w}`);
  return 0;
}

export async function rulesCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '-h' || sub === '--help') return printUsage(USAGE);
  if (sub !== undefined && SUB_USAGE[sub] !== undefined && wantsHelp(rest)) return printUsage(SUB_USAGE[sub]);
  try {
    switch (sub) {
      case 'explain':
        return explain(rest);
      case 'export':
        return exportCmd(rest);
      case 'check':
        return check(rest);
      default:
        err(sub === undefined ? `llmtap rules: give a subcommand\n${USAGE}` : `llmtap rules: unknown subcommand '${sub}'\n${USAGE}`);
        return EXIT.usage;
    }
  } catch (e) {
    if (isLlmtapError(e, 'LLMTAP_ERR_USAGE') || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      err(`${(e as Error).message}\n${(sub !== undefined ? SUB_USAGE[sub] : undefined) ?? USAGE}`);
      return EXIT.usage;
    }
    if (isLlmtapError(e)) {
      err(`${e.code}: ${e.message}`);
      return exitCodeFor(e);
    }
    throw e;
  }
}
