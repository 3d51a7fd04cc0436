/**
 * Unexpected parent: after warm-up, an AI connection from a process whose lineage hash (the
 * EDR's one-way hash of its ancestor names) is new for that process name in the tenant, while
 * the name already has a history. A process name with no history at all is H1's business.
 *
 * "New" is decided by capture time against the earliest sighting stored (kept as a minimum),
 * so replaying the same input after a crash reaches the same verdicts.
 */
import type { Rule, RuleContext } from './rule.js';
import { defaultDetectBounds } from './rule.js';
import { LruMap, type BoundStat } from '../bounded/lru.js';

export class Parent implements Rule {
  readonly name = 'lineage';
  /** tenant\0name → lineage hash → earliest capture time. */
  private readonly cache: LruMap<string, Map<string, number>>;
  constructor(maxNames = defaultDetectBounds.maxLineageNames) {
    this.cache = new LruMap('detect.lineage_names', maxNames);
  }

  bounds(): BoundStat[] {
    return [this.cache.stat()];
  }

  observe(ctx: RuleContext): void {
    const { obs, tenant, store } = ctx;
    const c = obs.client;
    if (!obs.verdict || !c?.processName || !c.lineageHash) return;
    const name = c.processName.toLowerCase();
    const ck = `${tenant.id}\0${name}`;
    let known = this.cache.get(ck);
    if (!known) {
      known = store.lineages(tenant.id, name);
      this.cache.set(ck, known);
    }
    const first = known.get(c.lineageHash);
    const isNew = first === undefined || first >= obs.tsUs;
    let history = 0;
    for (const [h, f] of known) if (h !== c.lineageHash && f < obs.tsUs) history++;
    if (first === undefined || obs.tsUs < first) {
      known.set(c.lineageHash, obs.tsUs);
      store.addLineage(tenant.id, name, c.lineageHash, obs.tsUs);
    }
    if (!ctx.warm || !isNew || history === 0) return;
    const detail: Record<string, string | number> = { lineageHash: c.lineageHash, knownLineages: history };
    if (c.parentName !== undefined) detail['parentName'] = c.parentName;
    ctx.emit({
      heuristic: 'lineage',
      severity: 'medium',
      title: `Unexpected parent: ${c.processName}${c.parentName ? ` started by ${c.parentName}` : ''} called ${obs.verdict.provider}`,
      detail,
    });
  }
}
