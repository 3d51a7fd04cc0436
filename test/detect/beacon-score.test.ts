import { describe, expect, it } from 'vitest';
import { dispersion, quantile, scoreBeacon } from '../../src/detect/beacon-score.js';
import { prng } from './helpers.js';

function series(n: number, next: (i: number) => number): number[] {
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    t += next(i);
    out.push(t * 1e6);
  }
  return out;
}

describe('beacon score', () => {
  it('quantiles interpolate between ranks', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([10, 20, 30, 40, 50], 0.25)).toBe(20);
    expect(quantile([], 0.5)).toBe(0);
  });

  it('Bowley skew of a right-skewed sample is positive, of a symmetric one zero', () => {
    expect(dispersion([1, 2, 3, 4, 100], 0).bowley).toBe(0);
    expect(dispersion([1, 2, 2.2, 10, 11], 0).bowley).toBeGreaterThan(0.5);
  });

  it('fixed cadence with ±2 % jitter scores above 0.9; Poisson arrivals and sizes score below 0.7', () => {
    const r = prng(11);
    const regular = series(20, () => 60 * (1 + (r() - 0.5) * 0.04));
    const good = scoreBeacon(regular, regular.map(() => 2000 + Math.floor(r() * 50)));
    expect(good.score).toBeGreaterThan(0.9);
    expect(good.medianIntervalUs / 1e6).toBeCloseTo(60, 0);
    for (let seed = 1; seed <= 20; seed++) {
      const q = prng(seed);
      const random = series(32, () => -Math.log(1 - q()) * 60);
      const bad = scoreBeacon(random, random.map(() => 200 + Math.floor(-Math.log(1 - q()) * 5000)));
      expect(bad.score, `seed ${seed}`).toBeLessThan(0.8);
    }
  });

  it('order of arrival does not matter', () => {
    const ts = [0, 30e6, 60e6, 90e6, 120e6, 150e6, 180e6, 210e6];
    const b = ts.map(() => 1000);
    const shuffled = [90e6, 0, 210e6, 30e6, 150e6, 60e6, 180e6, 120e6];
    expect(scoreBeacon(shuffled, b)).toEqual(scoreBeacon(ts, b));
    expect(scoreBeacon(ts, b).score).toBe(1);
  });
});
