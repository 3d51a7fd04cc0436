/**
 * Finds rules that can never decide: every way the rule matches is also matched by another
 * rule whose other conditions are no stricter and which wins precedence (a copy-pasted host
 * in a second rule, an exact host under a stronger category's suffix, ...). Such rules are
 * reported as warnings, not errors: the rule set still works, but the file misleads a reader.
 */
import type { CompiledIndex, CompiledRule, Hit } from './compile.js';
import { Matcher } from './matcher.js';
import { compareRank } from './precedence.js';

function subset<T>(a: ReadonlySet<T> | undefined, b: ReadonlySet<T> | undefined): boolean {
  if (b === undefined) return true; // b has no condition: matches everything a could
  if (a === undefined) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** `a`'s non-host conditions hold whenever `b`'s do. */
function noStricter(a: CompiledRule, b: CompiledRule): boolean {
  if (a.tenant !== undefined && a.tenant !== b.tenant) return false;
  if (a.sanctioned !== b.sanctioned) return false;
  if (a.localhostOnly && !b.localhostOnly) return false;
  return subset(b.ports, a.ports) && subset(b.processes, a.processes);
}

/** Returns every shadowed rule with the ids of the rules that shadow it. */
export function findShadowed(idx: CompiledIndex): Array<{ rule: CompiledRule; by: string[] }> {
  const m = new Matcher(idx, 0);
  const byRule = new Map<CompiledRule, Hit[]>();
  const collect = (list: Iterable<Hit[]>): void => {
    for (const hits of list) {
      for (const h of hits) {
        const l = byRule.get(h.rule);
        if (l === undefined) byRule.set(h.rule, [h]);
        else if (!l.includes(h)) l.push(h);
      }
    }
  };
  collect(idx.exact.values());
  collect(idx.suffix.values());
  collect(idx.byPort.values());
  collect(idx.byProcess.values());
  for (const bucket of idx.patterns.values()) collect(bucket.map((p) => [p.hit]));

  const out: Array<{ rule: CompiledRule; by: string[] }> = [];
  for (const rule of idx.rules) {
    if (rule.sanctioned) continue;
    const hits = byRule.get(rule) ?? [];
    const by = new Set<string>();
    let all = hits.length > 0;
    for (const hit of hits) {
      const rivals = rivalsOf(m, idx, hit);
      const winner = rivals.find((r) => r.rule !== rule && noStricter(r.rule, rule) && compareRank(r, hit) < 0);
      if (winner === undefined) {
        all = false;
        break;
      }
      by.add(winner.id);
    }
    if (all) out.push({ rule, by: [...by].sort() });
  }
  return out;
}

/** Rules that match every name `hit` matches (patterns: only a covering suffix counts). */
function rivalsOf(m: Matcher, idx: CompiledIndex, hit: Hit): Hit[] {
  if (hit.hostKind === 'exact') return [...m.lookupHost(hit.entry).hits];
  if (hit.hostKind === 'suffix') return m.lookupHost(hit.entry).hits.filter((h) => h.hostKind === 'suffix');
  if (hit.hostKind === 'pattern') {
    const fixed = hit.entry.split('.').filter((l, i, a) => !a.slice(i).some((x) => x.includes('{'))).join('.');
    const same = [...(idx.patterns.get(fixed) ?? [])].map((p) => p.hit).filter((h) => h.entry === hit.entry);
    return [...m.lookupHost(fixed).hits.filter((h) => h.hostKind === 'suffix'), ...same];
  }
  const r = hit.rule;
  const lists: Hit[] = [];
  for (const p of r.ports ?? []) lists.push(...(idx.byPort.get(p) ?? []));
  for (const p of r.processes ?? []) lists.push(...(idx.byProcess.get(p) ?? []));
  // A rival without a host condition must cover every port (or process) of this rule.
  return lists.filter((h) => h.hostKind === 'none');
}
