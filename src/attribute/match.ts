/**
 * Choosing the EDR record for one side of a flow (docs/edr-join.md §8.2 steps 3–6): local side equals
 * the flow endpoint; time within the window after skew correction (or "flow active at ts" for
 * polled sources); a process that started after the flow is impossible; nearest in time wins
 * on port reuse; different processes within tolerance of the nearest → ambiguous. Records of
 * the same process from two sources (Sysmon EID 3 and WFP 5156) are one candidate: the richer
 * record is used. Unambiguous candidates teach the device's skew.
 */
import type { AttributeCounter } from './counters.js';
import type { EdrConnection } from '../records.js';
import type { AttributeOptions } from './options.js';
import type { SkewTracker } from './skew.js';

export interface Candidate {
  rec: EdrConnection;
  skewKey: string;
}

export interface Endpoint {
  addr: string;
  port: number;
}

export interface MatchContext {
  firstMs: number;
  lastMs: number;
  opts: AttributeOptions;
  skews: SkewTracker;
  /** skewKeys this flow side already contributed a sample for. */
  learned: Set<string>;
  count(k: AttributeCounter): void;
}

export interface Match {
  entry: Candidate;
  skewMs: number | undefined;
  ambiguous: boolean;
}

/** Sysmon reports UDP "connections" late (first datagram of a dedup period): allow this much after. */
const UDP_LATE_MS = 30_000;

function identity(r: EdrConnection): string {
  return `${r.deviceId}|${r.pid ?? ''}|${(r.processName ?? '').toLowerCase()}`;
}

/** A binary identity first (SHA-256, else SHA-1: Defender's only hash), then lineage, instance, path. */
function richness(r: EdrConnection): number {
  const hash = r.sha256 !== undefined ? 16 : r.sha1 !== undefined ? 8 : 0;
  return hash + (r.lineageHash !== undefined ? 4 : 0) + (r.processKey !== undefined ? 2 : 0) + (r.processPath !== undefined ? 1 : 0);
}

/** Distance (ms) of a record's corrected time from the flow, or undefined outside the window. */
function distance(ctx: MatchContext, r: EdrConnection, corrected: number, window: number, udpLate: boolean): number | undefined {
  if (r.tsKind === 'observed' || r.tsKind === 'close') {
    if (corrected < ctx.firstMs - window || corrected > ctx.lastMs + window) return undefined;
    return corrected < ctx.firstMs ? ctx.firstMs - corrected : corrected > ctx.lastMs ? corrected - ctx.lastMs : 0;
  }
  const d = corrected - ctx.firstMs;
  if (d < -window || d > window + (udpLate ? UDP_LATE_MS : 0)) return undefined;
  return Math.abs(d);
}

export function bestCandidate(ctx: MatchContext, cands: readonly Candidate[], ep: Endpoint, proto: number): Match | undefined {
  const ok: { c: Candidate; dist: number; skew: number | undefined }[] = [];
  const wide = new Map<string, Candidate[]>();
  for (const c of cands) {
    const r = c.rec;
    if (r.localAddr !== ep.addr || r.localPort !== ep.port) continue;
    const skew = ctx.skews.get(c.skewKey);
    // Learning: unique candidates of one device+source within the wide window.
    if (r.tsKind === 'connect' || r.tsKind === 'accept') {
      const dw = r.tsMs - ctx.firstMs;
      if (Math.abs(dw) <= ctx.opts.learnWindowMs) {
        let l = wide.get(c.skewKey);
        if (l === undefined) { l = []; wide.set(c.skewKey, l); }
        l.push(c);
      }
    }
    const window = skew === undefined ? ctx.opts.learnWindowMs : ctx.opts.toleranceMs;
    const corrected = r.tsMs - (skew ?? 0);
    const dist = distance(ctx, r, corrected, window, r.transport === 'udp' && skew !== undefined);
    if (dist === undefined) continue;
    // docs/edr-join.md §8.2 step 4: a process that started after the flow cannot have made it.
    if (r.processStartMs !== undefined) {
      const eff = skew ?? r.tsMs - ctx.firstMs;
      if (r.processStartMs - eff > ctx.firstMs + ctx.opts.toleranceMs) {
        ctx.count('join.rejected_process_after_flow');
        continue;
      }
    }
    ok.push({ c, dist, skew });
  }
  for (const [skewKey, l] of wide) {
    if (l.length !== 1 || ctx.learned.has(skewKey)) continue;
    const r = l[0]?.rec;
    if (r === undefined) continue;
    if (r.transport === 'udp' && ctx.skews.hasTcp(skewKey)) continue;
    ctx.learned.add(skewKey);
    ctx.skews.add(skewKey, r.transport === 'tcp' ? 'tcp' : 'udp', r.tsMs - ctx.firstMs);
  }
  if (ok.length === 0) return undefined;
  ok.sort((a, b) => a.dist - b.dist);
  const best = ok[0];
  if (best === undefined) return undefined;
  const bestId = identity(best.c.rec);
  let ambiguous = false;
  let chosen = best;
  for (const x of ok) {
    if (x.dist - best.dist > ctx.opts.toleranceMs) break;
    if (identity(x.c.rec) !== bestId) { ambiguous = true; continue; }
    if (richness(x.c.rec) > richness(chosen.c.rec)) chosen = x;
  }
  if (ambiguous) ctx.count('join.ambiguous');
  void proto;
  // Skew may have been learned just now from this very candidate.
  const skewNow = ctx.skews.get(chosen.c.skewKey);
  return { entry: chosen.c, skewMs: skewNow, ambiguous };
}
