/**
 * docs/metrics.md is generated from the declarations (scripts/gen-metrics-doc.mjs), and every
 * series a declaration names exists: a counter cannot feed a metric that is not registered, or
 * a label the metric does not have.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STAGE_COUNTERS } from '../../src/sensor/counters.js';
import { renderMetricsDoc } from '../../src/cli/metrics-doc.js';
import { familyLabels, STAGE_METRICS } from '../../src/counters.js';
import { createMetrics } from '../../src/metrics.js';
import { repoRoot } from '../helpers/corpus.js';

const registered = new Map<string, string[]>(
  createMetrics({ build: { version: 'x', node: 'x' } }, { defaultMetrics: false })
    .registry.getMetricsAsArray()
    .map((m) => {
      const { name, labelNames } = m as unknown as { name: string; labelNames: string[] };
      return [name, [...labelNames].sort()];
    }),
);

describe('metrics reference', () => {
  it('docs/metrics.md is the generated text (node scripts/gen-metrics-doc.mjs after npm run build)', () => {
    expect(readFileSync(join(repoRoot, 'docs', 'metrics.md'), 'utf8')).toBe(renderMetricsDoc());
  });

  it('lists every registered metric and every declared counter', () => {
    const doc = renderMetricsDoc();
    for (const name of registered.keys()) expect(doc).toContain(`| \`${name}\` |`);
    for (const s of STAGE_COUNTERS) for (const name of Object.keys(s.decls)) expect(doc).toContain(`| \`${name}`);
    expect(registered.size).toBeGreaterThan(40);
  });

  it('every series a declaration names is a registered metric with exactly those labels', () => {
    const wrong: string[] = [];
    for (const s of STAGE_COUNTERS)
      for (const [name, d] of Object.entries(s.decls)) {
        if (d.metric === undefined) continue;
        const have = registered.get(d.metric.name);
        const want = [...Object.keys(d.metric.labels ?? {}), ...familyLabels(name)].sort();
        if (have === undefined || JSON.stringify(have) !== JSON.stringify(want)) wrong.push(`${name} → ${d.metric.name}{${want.join(',')}}`);
      }
    expect(wrong).toEqual([]);
    for (const sel of STAGE_METRICS) {
      expect(registered.get(sel.metric)).toEqual([sel.label]);
      expect(STAGE_COUNTERS.map((s) => s.stage)).toContain(sel.stage);
    }
  });

  it('counter names are unique across stages', () => {
    const all = STAGE_COUNTERS.flatMap((s) => Object.keys(s.decls));
    expect(new Set(all).size).toBe(all.length);
  });
});
