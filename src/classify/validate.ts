/**
 * Checks the schema cannot express: unique ids, at least one signal per rule, pattern
 * templates, `requires` for colliding ports, sanctioned rules only in tenant files, and every
 * rule's own examples.
 */
import { compileIndex } from './compile.js';
import { Matcher } from './matcher.js';
import { compilePattern } from './pattern.js';
import { isNetworkAddress, parseCidr } from './ranges.js';
import type { RuleSpec } from './types.js';

/**
 * Ports that ordinary web applications use too (llama.cpp/LocalAI 8080, vLLM 8000,
 * text-generation-webui 5000 and Flask/AirPlay, Gradio 7860): a port alone never decides.
 */
export const COLLIDING_PORTS: ReadonlySet<number> = new Set([5000, 7860, 8000, 8080]);

/** Problems of one rule, each a sentence without the rule id (the caller adds it). */
export function ruleProblems(r: RuleSpec, inTenantFile: boolean): string[] {
  const out: string[] = [];
  const m = r.match;
  const hasHost = (m.hosts?.length ?? 0) + (m.suffixes?.length ?? 0) + (m.patterns?.length ?? 0) > 0;
  const hasProc = (m.processes?.length ?? 0) > 0;
  const hasRanges = (m.ranges?.length ?? 0) > 0;
  if (!hasHost && !hasRanges && (m.ports?.length ?? 0) === 0 && !hasProc) {
    out.push('match has no signal (hosts, suffixes, patterns, ranges, ports or processes)');
  }
  if (hasHost && hasRanges) out.push('ranges are used only when a connection has no name: put them in a rule without hosts, suffixes or patterns');
  for (const r of m.ranges ?? []) {
    const c = parseCidr(r.prefix);
    if (c === undefined || !r.prefix.includes('/')) out.push(`range "${r.prefix}" is not an address prefix`);
    else if (!isNetworkAddress(c)) out.push(`range "${r.prefix}" has address bits set past its prefix length`);
    else if (Number.isNaN(Date.parse(`${r.date}T00:00:00Z`))) out.push(`range "${r.prefix}": date "${r.date}" is not a calendar date`);
  }
  for (const p of m.patterns ?? []) {
    const c = compilePattern(p);
    if (typeof c === 'string') out.push(c);
  }
  for (const req of m.requires ?? []) {
    if (req === 'host' && !hasHost) out.push('requires "host" but the rule has no host condition');
    if (req === 'process' && !hasProc) out.push('requires "process" but the rule lists no processes');
  }
  const colliding = (m.ports ?? []).filter((p) => COLLIDING_PORTS.has(p));
  if (colliding.length > 0 && (m.requires ?? []).length === 0) {
    out.push(`port ${colliding.join(', ')} collides with ordinary web apps: add a second signal and name it in "requires"`);
  }
  if (r.sanctioned === true && !inTenantFile) out.push('"sanctioned" is allowed in tenant rule files only');
  const ex = r.examples;
  if (ex !== undefined && out.length === 0 && hasRanges) {
    // a range rule's examples are addresses
    const own = new Matcher(compileIndex({ rules: [{ ...r, sanctioned: false }], excluded: [], tenants: [] }), 0);
    for (const a of ex.match ?? []) if (own.lookupAddress(a, false).hits.length === 0) out.push(`example "${a}" should be in a range but is not`);
    for (const a of ex.nomatch ?? []) if (own.lookupAddress(a, false).hits.length > 0) out.push(`example "${a}" should not be in a range but is`);
  } else if (ex !== undefined && out.length === 0) {
    if (!hasHost) out.push('examples need a host condition');
    else {
      const own = new Matcher(compileIndex({ rules: [{ ...r, sanctioned: false }], excluded: [], tenants: [] }), 0);
      for (const name of ex.match ?? []) {
        if (own.lookupHost(name).hits.length === 0) out.push(`example "${name}" should match but does not`);
      }
      for (const name of ex.nomatch ?? []) {
        if (own.lookupHost(name).hits.length > 0) out.push(`example "${name}" should not match but does`);
      }
    }
  }
  return out;
}
