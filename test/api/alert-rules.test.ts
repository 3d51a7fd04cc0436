/**
 * The shipped Prometheus alerting rules (config/prometheus/llmtap-alerts.yml): valid for
 * Debian's promtool, and their unit tests (llmtap-alerts.test.yml: each alert fires for the
 * sensor in trouble, not for the healthy one, not before its `for:`) pass. Every metric a rule
 * names is one llmtap exports (src/metrics.ts), so a renamed metric cannot silently disarm a rule.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { repoRoot } from '../helpers/corpus.js';
import { StageFeed } from './stage-feed.js';

const dir = join(repoRoot, 'config', 'prometheus');
const havePromtool = spawnSync('promtool', ['--version']).status === 0;
if (!havePromtool && process.env['CI'] === 'true') throw new Error('promtool is not installed (Debian package `prometheus`)');

interface RuleFile {
  groups: { name: string; rules: { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> }[] }[];
}
const rules = (YAML.parse(readFileSync(join(dir, 'llmtap-alerts.yml'), 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);

describe('alerting rules', () => {
  it('cover sensor down, capture stalled, kernel drops (all and per capture worker), EDR join collapse, store writes and output backlog', () => {
    expect(rules.map((r) => r.alert)).toEqual([
      'LlmtapSensorDown', 'LlmtapCaptureStalled', 'LlmtapKernelDrops', 'LlmtapWorkerDrops', 'LlmtapEdrJoinRateCollapsed',
      'LlmtapStoreWriteFailures', 'LlmtapStoreWritesDropped', 'LlmtapOutputBacklog', 'LlmtapOutputDropped',
    ]);
    for (const r of rules) {
      expect(['critical', 'warning'], r.alert).toContain(r.labels['severity']);
      expect(r.annotations['summary'], r.alert).toMatch(/\{\{ \$labels\.instance \}\}/);
    }
  });

  it('name only metrics llmtap exports', async () => {
    const feed = new StageFeed();
    const text = await createMetrics(feed.sources()).registry.metrics();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const named = new Set(rules.flatMap((r) => [...r.expr.matchAll(/\b(llmtap_[a-z0-9_]+)/g)].map((m) => m[1]!)));
    expect(named.size).toBeGreaterThan(8);
    for (const n of named) expect(exported.has(n), n).toBe(true);
  });

  it.skipIf(!havePromtool)('promtool check rules and promtool test rules pass', () => {
    const check = spawnSync('promtool', ['check', 'rules', 'llmtap-alerts.yml'], { cwd: dir, encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain('SUCCESS: 9 rules found');
    const test = spawnSync('promtool', ['test', 'rules', 'llmtap-alerts.test.yml'], { cwd: dir, encoding: 'utf8' });
    expect(test.status, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toContain('SUCCESS');
  });
});
