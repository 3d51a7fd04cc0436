/**
 * Beacon: a regular cadence of AI connections per (device or client address, process, host),
 * scored in real time on every new connection from the key's most recent `max_samples`
 * connections (see beacon-score.ts for the score). Fires (medium; high for server processes)
 * once at least `min_connections` are kept, the score reaches `score_threshold` and the median
 * interval lies within [`min_interval_s`, `max_interval_s`].
 */
import { scoreBeacon } from './beacon-score.js';
import { isServerProcess } from './h1-allowlist.js';
import type { EvidenceRef, Rule, RuleContext } from './rule.js';
import { defaultDetectBounds, deviceKey, refOf } from './rule.js';
import { LruMap, type BoundStat } from '../bounded/lru.js';

interface Series {
  refs: EvidenceRef[];
  lastTsUs: number;
  idleUs: number;
}

/** Keys idle longer than this (or twice the longest interval scored) are dropped on tick. */
const IDLE_US = 2 * 3_600_000_000;

export class Beacon implements Rule {
  readonly name = 'beacon';
  /** Least recently observed series evicted first when full (counted). */
  private readonly series: LruMap<string, Series>;
  constructor(maxSeries = defaultDetectBounds.maxSeries) {
    this.series = new LruMap('detect.beacon_series', maxSeries);
  }

  bounds(): BoundStat[] {
    return [this.series.stat()];
  }

  observe(ctx: RuleContext): void {
    const { obs, tenant } = ctx;
    const v = obs.verdict;
    if (!v) return;
    const p = tenant.beacon;
    const proc = obs.client?.processName?.toLowerCase() ?? '-';
    const key = `${tenant.id}\0${deviceKey(obs)}\0${proc}\0${obs.host ?? obs.serverAddr}`;
    let s = this.series.get(key);
    if (!s) {
      s = { refs: [], lastTsUs: obs.tsUs, idleUs: Math.max(IDLE_US, 2 * p.max_interval_s * 1e6) };
      this.series.set(key, s);
    }
    const at = s.refs.findIndex((r) => r.obsId === obs.obsId);
    if (at >= 0) s.refs.splice(at, 1);
    s.refs.push(refOf(obs));
    s.refs.sort((a, b) => a.tsUs - b.tsUs);
    if (s.refs.length > p.max_samples) s.refs.splice(0, s.refs.length - p.max_samples);
    s.lastTsUs = Math.max(s.lastTsUs, obs.tsUs);
    if (s.refs.length < p.min_connections) return;

    const sc = scoreBeacon(s.refs.map((r) => r.tsUs), s.refs.map((r) => r.bytesOut));
    const medianS = sc.medianIntervalUs / 1e6;
    if (sc.score < p.score_threshold || medianS < p.min_interval_s || medianS > p.max_interval_s) return;
    const who = obs.client?.processName ?? obs.clientAddr;
    ctx.emit({
      heuristic: 'beacon',
      severity: obs.client?.processName !== undefined && isServerProcess(obs.client.processName) ? 'high' : 'medium',
      title: `Beacon: ${who} polls ${obs.host ?? obs.serverAddr} every ~${Math.round(medianS)}s`,
      detail: {
        score: round3(sc.score),
        tsScore: round3(sc.tsScore),
        sizeScore: round3(sc.sizeScore),
        medianIntervalS: round3(medianS),
        bowley: round3(sc.bowley),
        madRatio: round3(sc.madRatio),
        connections: sc.connections,
      },
      window: s.refs,
    });
  }

  /** Drops idle series, least recently observed first, up to the first one still active (no walk over all). */
  tick(nowUs: number): void {
    for (let o = this.series.oldest(); o !== undefined && o[1].lastTsUs < nowUs - o[1].idleUs; o = this.series.oldest()) this.series.delete(o[0]);
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
