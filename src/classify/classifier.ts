/**
 * The classify stage's public face. Holds one immutable compiled state (index, memo, version)
 * and swaps it in one assignment on reload, so a classification never sees half a rule set;
 * a bad new file leaves the old state in place and reports why.
 */
import { familyKey } from '../counters.js';
import { toSuricataRules, toZeekIntel, type SensorExport, type SensorFormat } from './sensor-export.js';
import { fileURLToPath } from 'node:url';
import type { Verdict } from '../records.js';
import { LlmtapError } from '../errors.js';
import { compileIndex } from './compile.js';
import type { Explanation } from './explain.js';
import { explainQuery } from './explain.js';
import { buildExport, ruleSetFromExport } from './export.js';
import { loadRuleFiles } from './load.js';
import { Matcher } from './matcher.js';
import type { ClassifyQuery, ExcludedHost, RuleSet } from './types.js';
import type { BoundStat } from '../bounded/lru.js';

export type { ClassifyQuery } from './types.js';
export type { Explanation } from './explain.js';

/** Default rule file, resolved from this module (works from src/ and from dist/). */
export const DEFAULT_RULES_PATH = fileURLToPath(new URL('../../config/rules/default.yaml', import.meta.url));
export const DEFAULT_TENANT_DIR = fileURLToPath(new URL('../../config/rules/tenants', import.meta.url));

export interface ClassifierOptions {
  /** Bound of the per-host memo (entries). */
  memoMax?: number;
}

interface State {
  set: RuleSet;
  matcher: Matcher;
  version: string;
  doc: Record<string, unknown>;
  excluded: Map<string, ExcludedHost>;
  warnings: string[];
  /** Per-tenant export documents, built on first request. */
  byTenant: Map<string, Record<string, unknown>>;
}

function build(set: RuleSet, warnings: string[], opts: ClassifierOptions): State {
  const { doc, version } = buildExport(set);
  const excluded = new Map(set.excluded.map((e) => [e.host.toLowerCase().replace(/\.$/, ''), e]));
  return { set, matcher: new Matcher(compileIndex(set), opts.memoMax), version, doc, excluded, warnings, byTenant: new Map() };
}

/** The matcher's running counts (CLASSIFY_COUNTERS), summed over reloads by `carry`. */
function counters(m: Matcher): Record<string, number> {
  const out: Record<string, number> = {
    queries: m.queries,
    verdicts: m.verdicts,
    memo_hits: m.memoHits,
    memo_misses: m.memoMisses,
    memo_evictions: m.memoEvictions,
    bad_hosts: m.badHosts,
  };
  for (const [c, n] of Object.entries(m.byCategory)) out[familyKey('verdicts_<category>', c)] = n;
  return out;
}

export class Classifier {
  private state: State;
  private readonly paths: { rules: string; tenantDir?: string } | undefined;
  private readonly opts: ClassifierOptions;
  private reloads = 0;
  private reloadFailures = 0;
  /** Counters of matchers replaced by reloads, so stats() stays monotonic. */
  private readonly carried: Record<string, number> = {};

  private constructor(state: State, paths: { rules: string; tenantDir?: string } | undefined, opts: ClassifierOptions) {
    this.state = state;
    this.paths = paths;
    this.opts = opts;
  }

  /** Loads rule files; throws LlmtapError LLMTAP_ERR_RULES naming file, rule id and problem. */
  static fromFiles(paths: { rules: string; tenantDir?: string }, opts: ClassifierOptions = {}): Classifier {
    const loaded = loadRuleFiles(paths);
    return new Classifier(build(loaded.set, loaded.warnings, opts), { ...paths }, opts);
  }

  /** From rule data already parsed and validated (tests, the API). */
  static fromRuleSet(set: RuleSet, opts: ClassifierOptions = {}): Classifier {
    return new Classifier(build(set, [], opts), undefined, opts);
  }

  /** The verdict for one connection, or undefined when it is not AI traffic by these rules. */
  classify(q: ClassifyQuery): Verdict | undefined {
    return this.state.matcher.classify(q);
  }

  explain(q: ClassifyQuery): Explanation {
    const s = this.state;
    return explainQuery(s.matcher, s.excluded, s.version, q);
  }

  /**
   * Deterministic, sorted, content-hash versioned document including the schema. With a
   * tenant: the default rules plus that tenant's rules only (its own version), as a tenant's
   * agents load it; no other tenant's rules.
   */
  exportDocument(tenant?: string): object {
    const s = this.state;
    if (tenant === undefined) return s.doc;
    let doc = s.byTenant.get(tenant);
    if (doc === undefined) {
      doc = buildExport({ ...s.set, tenants: s.set.tenants.filter((t) => t.tenant === tenant) }).doc;
      // Bounded by the tenants that have a token (callers), and rebuilt on reload.
      if (s.byTenant.size < 4096) s.byTenant.set(tenant, doc);
    }
    return doc;
  }

  /** The rule set for Zeek's Intel framework or as Suricata rules (sensor-export.ts). */
  sensorExport(format: SensorFormat): SensorExport {
    const s = this.state;
    return format === 'zeek-intel' ? toZeekIntel(s.set, s.version) : toSuricataRules(s.set, s.version);
  }

  /** Re-reads the rule files; the new rules replace the old ones only when all are valid. */
  reload(): { ok: true; version: string } | { ok: false; error: string } {
    if (this.paths === undefined) return { ok: true, version: this.state.version };
    try {
      const loaded = loadRuleFiles(this.paths);
      const next = build(loaded.set, loaded.warnings, this.opts);
      this.carry(this.state.matcher);
      this.state = next; // the swap: one assignment
      this.reloads++;
      return { ok: true, version: next.version };
    } catch (e) {
      this.reloadFailures++;
      return { ok: false, error: e instanceof LlmtapError ? e.message : `unexpected reload failure: ${String(e)}` };
    }
  }

  get version(): string {
    return this.state.version;
  }

  /** Warnings of the current rule set (fully shadowed rules). */
  get warnings(): readonly string[] {
    return this.state.warnings;
  }

  get ruleCount(): number {
    return this.state.matcher.index.rules.length;
  }

  /**
   * Monotonic counters since construction (`rules` and `memo_size` are gauges):
   * queries, verdicts, verdicts_<category>, memo_hits/misses/evictions, bad_hosts (names that
   * failed normalisation), reloads, reload_failures.
   */
  stats(): Record<string, number> {
    const m = this.state.matcher;
    const out: Record<string, number> = { ...this.carried };
    for (const [k, v] of Object.entries(counters(m))) out[k] = (out[k] ?? 0) + v;
    out['rules'] = m.index.rules.length;
    out['memo_size'] = m.memoSize();
    out['reloads'] = this.reloads;
    out['reload_failures'] = this.reloadFailures;
    return out;
  }

  /** The matcher's memos (evictions include those of matchers replaced by a reload). */
  bounds(): BoundStat[] {
    const b = this.state.matcher.bounds();
    if (b[0] !== undefined) b[0].evictions += this.carried['memo_evictions'] ?? 0;
    return b;
  }

  private carry(m: Matcher): void {
    for (const [k, v] of Object.entries(counters(m))) this.carried[k] = (this.carried[k] ?? 0) + v;
  }
}

/** A classifier from an export document (what an endpoint agent loads). */
export function classifierFromExport(doc: object, opts: ClassifierOptions = {}): Classifier {
  const { set } = ruleSetFromExport(doc);
  return Classifier.fromRuleSet(set, opts);
}
