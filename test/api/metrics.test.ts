/** The metrics registry: names, collect-time reads, bounded labels, failing getters. */
import { NAMES_COUNTERS } from '../../src/names/counters.js';
import { DISSECT_COUNTERS } from '../../src/dissect/reasons.js';
import { describe, expect, it } from 'vitest';
import { MAX_SERIES, boundedLabel, createMetrics, reasonLabel } from '../../src/metrics.js';
import { StageFeed } from './stage-feed.js';

describe('metrics', () => {
  it('reads stage counters at scrape time and follows them', async () => {
    const feed = new StageFeed();
    const { registry } = createMetrics(feed.sources(), { defaultMetrics: false });
    feed.step();
    const first = await registry.getSingleMetricAsString('llmtap_source_packets_total');
    expect(first).toContain('llmtap_source_packets_total 1000');
    feed.step();
    const text = await registry.metrics();
    expect(text).toContain('llmtap_source_packets_total 2000');
    expect(text).toContain('llmtap_decode_errors_total{reason="decode.ipv4_truncated"} 2');
    expect(text).toContain('llmtap_classify_ai_bytes_total{provider="openai",direction="out"} 10000');
    expect(text).toContain('llmtap_detect_alerts_total{heuristic="h7",severity="critical"} 2');
    expect(text).toContain('# TYPE llmtap_flow_active_flows gauge');
    // Prometheus naming: every llmtap counter ends in _total.
    for (const m of await registry.getMetricsAsJSON()) {
      expect(m.name).toMatch(/^llmtap_[a-z]+_[a-z_]+$/);
      if (String(m.type) === 'counter') expect(m.name).toMatch(/_total$/);
    }
  });

  it('folds host names, addresses and odd values into "other" and caps series', async () => {
    expect(boundedLabel('openai')).toBe('openai');
    expect(boundedLabel('api.openai.com')).toBe('other');
    expect(boundedLabel('10.0.0.1')).toBe('other');
    expect(boundedLabel('2001:db8::1')).toBe('other');
    expect(reasonLabel('tls.gap')).toBe('tls.gap');
    expect(reasonLabel('api.openai.com')).toBe('other');
    const many: Record<string, number> = {};
    for (let i = 0; i < MAX_SERIES + 50; i++) many[`p${i}`] = 1;
    many['chat.openai.com'] = 5;
    const { registry } = createMetrics(
      { classify: () => ({ classifications: { api: many }, bytesOut: {}, bytesIn: {} }) },
      { defaultMetrics: false },
    );
    const text = await registry.getSingleMetricAsString('llmtap_classify_classifications_total');
    const lines = text.split('\n').filter((l) => l.startsWith('llmtap_'));
    expect(lines.length).toBeLessThanOrEqual(MAX_SERIES + 1);
    expect(text).not.toContain('chat.openai.com');
    const total = lines.reduce((s, l) => s + Number(l.split(' ').at(-1)), 0);
    expect(total).toBe(MAX_SERIES + 50 + 5);
  });

  it('counts a throwing getter instead of failing the scrape', async () => {
    const { registry } = createMetrics(
      {
        flow: () => {
          throw new Error('boom');
        },
        stages: [
          { stage: 'names', decls: NAMES_COUNTERS, values: () => ({ 'names.answers': 3, 'names.entries_addr': 1 }) },
          {
            stage: 'dissect',
            decls: DISSECT_COUNTERS,
            values: () => {
              throw new Error('boom');
            },
          },
        ],
      },
      { defaultMetrics: false },
    );
    const text = await registry.metrics();
    expect(text).toContain('llmtap_dns_answers_total 3');
    expect(text).toContain('llmtap_names_passive_dns_entries 1');
    expect(text).toMatch(/llmtap_metrics_collect_errors_total\{stage="flow"\} [1-9]/);
    expect(text).toMatch(/llmtap_metrics_collect_errors_total\{stage="dissect"\} [1-9]/);
  });
});
