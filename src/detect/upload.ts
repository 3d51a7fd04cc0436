/**
 * Upload volume / byte asymmetry, for connections attributed by EDR (devices without EDR are
 * shadow-volume's): bytes the client sent per (device, provider) summed over `upload.window_s`
 * above `upload.bytes_out` (default 10,000,000, the shadow-AI playbook's threshold), or one
 * connection of at least `ratio_min_bytes` whose out/in ratio exceeds `ratio_factor` times the
 * provider's baseline. The baseline is an exponentially weighted mean of log2 out/in per
 * (tenant, provider) over at least `BASELINE_MIN` earlier connections.
 */
import type { Rule, RuleContext } from './rule.js';
import { defaultDetectBounds, hasEdr, refOf, RefWindow, sumBounds } from './rule.js';
import { LruMap, type BoundStat } from '../bounded/lru.js';

const BASELINE_MIN = 20;
const ALPHA = 0.05;

interface Baseline {
  n: number;
  meanLog2: number;
}

export class Upload implements Rule {
  readonly name = 'upload';
  private readonly windows = new Map<string, { windowUs: number; w: RefWindow }>();
  private readonly baselines = new Map<string, Baseline>();
  /** Read with `has` only: the oldest remembered id is forgotten first. */
  private readonly seen: LruMap<string, true>;
  constructor(
    private readonly maxKeys = defaultDetectBounds.maxWindowKeys,
    maxSeen = defaultDetectBounds.maxUploadSeen,
  ) {
    this.seen = new LruMap('detect.upload_seen', maxSeen);
  }

  bounds(): BoundStat[] {
    return [...sumBounds([...this.windows.values()].map((tw) => tw.w.stat())), this.seen.stat()];
  }

  observe(ctx: RuleContext): void {
    const { obs, tenant } = ctx;
    const v = obs.verdict;
    const dev = obs.client?.deviceId;
    if (!v || !hasEdr(obs) || dev === undefined) return;
    const cfg = tenant.upload;
    const windowUs = cfg.window_s * 1e6;
    let tw = this.windows.get(tenant.id);
    if (!tw) {
      tw = { windowUs, w: new RefWindow(4096, this.maxKeys, 'detect.upload_keys') };
      this.windows.set(tenant.id, tw);
    }
    tw.windowUs = windowUs;
    const refs = tw.w.add(`${dev}\0${v.provider}`, refOf(obs), obs.tsUs - windowUs).filter((r) => r.tsUs <= obs.tsUs);
    const sum = refs.reduce((a, r) => a + r.bytesOut, 0);

    const ratio = (obs.bytesOut + 1) / (obs.bytesIn + 1);
    const bkey = `${tenant.id}\0${v.provider}`;
    const base = this.baselines.get(bkey);
    const baseRatio = base && base.n >= BASELINE_MIN ? 2 ** base.meanLog2 : undefined;
    const asym = baseRatio !== undefined && obs.bytesOut >= cfg.ratio_min_bytes && ratio > cfg.ratio_factor * baseRatio;
    // Learn the baseline once per observation (a late-join update does not count twice).
    const seenKey = `${tenant.id}\0${obs.obsId}`;
    if (!this.seen.has(seenKey)) {
      this.seen.set(seenKey, true);
      const l = Math.log2(ratio);
      if (!base) this.baselines.set(bkey, { n: 1, meanLog2: l });
      else {
        base.n++;
        base.meanLog2 += (base.n < BASELINE_MIN ? 1 / base.n : ALPHA) * (l - base.meanLog2);
      }
    }

    const volume = sum > cfg.bytes_out;
    if (!volume && !asym) return;
    const detail: Record<string, number | string> = {
      reason: volume ? 'volume' : 'ratio',
      bytesOutWindow: sum,
      windowS: cfg.window_s,
      thresholdBytes: cfg.bytes_out,
      outInRatio: Math.round(ratio * 100) / 100,
    };
    if (baseRatio !== undefined) detail['baselineRatio'] = Math.round(baseRatio * 100) / 100;
    ctx.emit({
      heuristic: 'upload',
      severity: 'high',
      title: `Upload: ${obs.client?.processName ?? dev} sent ${(sum / 1e6).toFixed(1)} MB to ${v.provider} within ${cfg.window_s}s`,
      detail,
      window: volume ? refs : [],
    });
  }

  tick(nowUs: number): void {
    for (const tw of this.windows.values()) tw.w.prune(nowUs - tw.windowUs);
  }
}
