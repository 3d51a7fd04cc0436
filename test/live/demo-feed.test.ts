/**
 * The feed the live demo test gives `llmtap run`: the recorded demo feed when the recording is
 * inside the join's learn window, else a copy whose endpoint times are all moved by the
 * recording's age (and nothing else changed).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './child.js';
import { feedForLive, feedStartMs } from './demo-feed.js';

const feed = join(repoRoot, 'pcaps', 'demo', 'edr', 'llmtap.ndjson');
const dir = mkdtempSync(join(tmpdir(), 'llmtap-demo-feed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lines = (p: string): Record<string, unknown>[] =>
  readFileSync(p, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('feedForLive', () => {
  const start = feedStartMs(feed);
  const hour = 3_600_000;

  it('a recording inside the learn window (less the margin) is used as recorded', () => {
    const f = feedForLive(feed, join(dir, 'a.ndjson'), start + 10 * hour, 12 * hour, hour);
    expect(f).toEqual({ path: feed, shiftMs: 0, ageMs: 10 * hour });
  });

  it('an older recording: every endpoint time moves by its age, every other field stays', () => {
    const now = start + 30 * 24 * hour;
    const f = feedForLive(feed, join(dir, 'b.ndjson'), now, 12 * hour, hour);
    expect(f.shiftMs).toBe(30 * 24 * hour);
    const orig = lines(feed);
    const moved = lines(f.path);
    expect(moved.length).toBe(orig.length);
    expect(moved.length).toBeGreaterThan(20);
    expect(feedStartMs(f.path)).toBe(now);
    let withStart = 0;
    orig.forEach((o, i) => {
      const m = moved[i]!;
      for (const k of ['tsMs', 'receivedAtMs', 'processStartMs']) {
        if (typeof o[k] === 'number') expect(m[k]).toBe((o[k] as number) + f.shiftMs);
        else expect(m[k]).toBeUndefined();
      }
      if (typeof o['processStartMs'] === 'number') withStart++;
      const rest = (r: Record<string, unknown>): Record<string, unknown> => {
        const { tsMs: _a, receivedAtMs: _b, processStartMs: _c, ...x } = r;
        return x;
      };
      expect(rest(m)).toEqual(rest(o));
    });
    expect(withStart).toBeGreaterThan(0);
  });

  it('always: moved even when recent', () => {
    const f = feedForLive(feed, join(dir, 'c.ndjson'), start + 1000, 12 * hour, hour, { always: true });
    expect(f.shiftMs).toBe(1000);
    expect(feedStartMs(f.path)).toBe(start + 1000);
  });
});
