/**
 * Shadow-AI volume for devices without EDR, the playbook's query built in: connections to AI
 * endpoints summarised per (client address, provider) over `shadow_volume.window_s`, flagged
 * when there are at least `connections` (default 5) or the client sent more than `bytes_out`
 * (default 10,000,000). Sanctioned endpoints are approved use, not shadow AI.
 */
import type { Rule, RuleContext } from './rule.js';
import { defaultDetectBounds, hasEdr, refOf, RefWindow, sumBounds } from './rule.js';
import type { BoundStat } from '../bounded/lru.js';

export class ShadowVolume implements Rule {
  readonly name = 'shadow_volume';
  private readonly windows = new Map<string, { windowUs: number; w: RefWindow }>();
  constructor(private readonly maxKeys = defaultDetectBounds.maxWindowKeys) {}

  bounds(): BoundStat[] {
    return sumBounds([...this.windows.values()].map((tw) => tw.w.stat()));
  }

  observe(ctx: RuleContext): void {
    const { obs, tenant } = ctx;
    const v = obs.verdict;
    if (!v || v.sanctioned || hasEdr(obs)) return;
    const cfg = tenant.shadow_volume;
    const windowUs = cfg.window_s * 1e6;
    let tw = this.windows.get(tenant.id);
    if (!tw) {
      tw = { windowUs, w: new RefWindow(1024, this.maxKeys, 'detect.shadow_volume_keys') };
      this.windows.set(tenant.id, tw);
    }
    tw.windowUs = windowUs;
    const refs = tw.w.add(`${obs.clientAddr}\0${v.provider}`, refOf(obs), obs.tsUs - windowUs).filter((r) => r.tsUs <= obs.tsUs);
    const sum = refs.reduce((a, r) => a + r.bytesOut, 0);
    if (refs.length < cfg.connections && sum <= cfg.bytes_out) return;
    ctx.emit({
      heuristic: 'shadow_volume',
      severity: 'medium',
      title: `Shadow AI: ${obs.clientAddr} made ${refs.length} connections to ${v.provider} (${(sum / 1e6).toFixed(1)} MB out) within ${cfg.window_s}s`,
      detail: { connections: refs.length, bytesOutWindow: sum, windowS: cfg.window_s, category: v.category },
      window: refs,
    });
  }

  tick(nowUs: number): void {
    for (const tw of this.windows.values()) tw.w.prune(nowUs - tw.windowUs);
  }
}
