/**
 * Beacon scoring, after the approach RITA (Active Countermeasures) publishes for Zeek logs,
 * adapted to score one key in real time from its most recent connections:
 *
 * Timing. Inter-arrival times d_i of the connections, sorted by time.
 *  - Symmetry: Bowley's quartile skewness B = (Q1 + Q3 − 2·Q2) / (Q3 − Q1); a fixed cadence
 *    with random jitter is symmetric (B ≈ 0). skewScore = 1 − |B|.
 *  - Dispersion: median absolute deviation relative to the median, MAD/Q2.
 *    madScore = max(0, 1 − MAD/Q2).
 *  - tsScore = (skewScore + madScore) / 2.
 * Size. The same two sub-scores over the bytes the client sent per connection (a poller sends
 * the same request again and again): sizeScore.
 * score = (2·tsScore + sizeScore) / 3 — timing weighs double: an LLM poller's request size
 * varies with its prompt, its cadence does not.
 *
 * Differences from RITA, on purpose:
 *  - No connection-count sub-score (RITA v4.8.0 dropped it too); a minimum count gates scoring.
 *  - Jitter floor: when the interquartile range is tiny (≤ 5 % of the median, or ≤ 50 ms for
 *    timing, ≤ 64 bytes for sizes) the skew is noise, not shape, and counts as 0. Without it
 *    a 30 s ± 0.3 s poller can score |B| near 1 from three nearly equal quartiles.
 *  - Keys are (device or client address, process, host), not IP pairs, since CDN-fronted LLM
 *    APIs change addresses constantly.
 * Random (Poisson-like) traffic has MAD/Q2 ≈ 0.5–0.7 and scores ≈ 0.5–0.65; a fixed cadence
 * with ±5 % jitter scores ≥ 0.9. Default threshold 0.8.
 */

/** Quantile by linear interpolation between closest ranks (sorted input, q in [0, 1]). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? 0;
  const b = sorted[hi] ?? a;
  return a + (b - a) * (pos - lo);
}

export interface DispersionScore {
  median: number;
  bowley: number;
  madRatio: number;
  score: number;
}

/** Symmetry and dispersion sub-scores of a sample (each 0..1, 1 = perfectly regular). */
export function dispersion(values: readonly number[], floorAbs: number): DispersionScore {
  const s = [...values].sort((x, y) => x - y);
  const q1 = quantile(s, 0.25);
  const q2 = quantile(s, 0.5);
  const q3 = quantile(s, 0.75);
  const iqr = q3 - q1;
  const bowley = iqr > Math.max(floorAbs, 0.05 * Math.abs(q2)) ? (q1 + q3 - 2 * q2) / iqr : 0;
  const dev = s.map((v) => Math.abs(v - q2)).sort((x, y) => x - y);
  const mad = quantile(dev, 0.5);
  let madRatio: number;
  if (q2 > 0) madRatio = mad / q2;
  else madRatio = mad === 0 ? 0 : 1;
  const skewScore = 1 - Math.min(1, Math.abs(bowley));
  const madScore = Math.max(0, 1 - madRatio);
  return { median: q2, bowley, madRatio, score: (skewScore + madScore) / 2 };
}

export interface BeaconScore {
  score: number;
  tsScore: number;
  sizeScore: number;
  medianIntervalUs: number;
  bowley: number;
  madRatio: number;
  connections: number;
}

/** Scores connections given their start times (µs) and client bytes, in any order. */
export function scoreBeacon(tsUs: readonly number[], bytesOut: readonly number[]): BeaconScore {
  const order = tsUs.map((t, i) => i).sort((a, b) => (tsUs[a] ?? 0) - (tsUs[b] ?? 0));
  const intervals: number[] = [];
  for (let k = 1; k < order.length; k++) {
    intervals.push((tsUs[order[k] ?? 0] ?? 0) - (tsUs[order[k - 1] ?? 0] ?? 0));
  }
  const ts = dispersion(intervals, 50_000);
  const size = dispersion(bytesOut, 64);
  return {
    score: (2 * ts.score + size.score) / 3,
    tsScore: ts.score,
    sizeScore: size.score,
    medianIntervalUs: ts.median,
    bowley: ts.bowley,
    madRatio: ts.madRatio,
    connections: tsUs.length,
  };
}
