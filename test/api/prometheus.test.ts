/**
 * A real Prometheus (Debian's `prometheus`) on loopback scrapes a listening llmtap API whose
 * metrics are fed by stage-like counters; then every PromQL expression in the shipped Grafana
 * dashboards is evaluated through Prometheus's HTTP API and must return at least one series.
 * Bounded: one scrape per second, at most ~60 s of waiting, the child is killed at the end.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import YAML from 'yaml';
import { repoRoot } from '../helpers/corpus.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { hashToken } from '../../src/api/auth.js';
import { createMetrics } from '../../src/metrics.js';
import type { FastifyInstance } from 'fastify';
import { Classifier, DEFAULT_RULES_PATH } from '../../src/classify/classifier.js';
import { StageFeed } from './stage-feed.js';
import { Store } from '../../src/store/store.js';
import { Prometheus, dashboardExpressions, havePrometheus, substituteGrafana } from '../helpers/prometheus.js';

const haveProm = havePrometheus();
/** The operator token Prometheus scrapes with (the AI-traffic and alert series need one). */
const OPERATOR = 'operator-token-of-the-prometheus-scraper';

describe.skipIf(!haveProm)('dashboards against a real Prometheus', () => {
  let app: FastifyInstance;
  let store: Store;
  let prom: Prometheus | undefined;
  let dir: string;
  let ticker: NodeJS.Timeout;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llmtap-prom-'));
    const feed = new StageFeed();
    let steps = 0;
    // Traffic keeps flowing while Prometheus scrapes; bounded to ~2 minutes in any case.
    ticker = setInterval(() => {
      if (steps++ < 600) feed.step();
    }, 200);
    const metrics = createMetrics(feed.sources());
    store = Store.open(join(dir, 'llmtap.db'), { flushIntervalMs: 0 });
    app = await buildApp(
      { tenants: [{ tenant: 't1', tokenSha256: hashToken('x'.repeat(32)) }], operators: [{ name: 'prometheus', tokenSha256: hashToken(OPERATOR) }] },
      {
        store,
        classifier: Classifier.fromFiles({ rules: DEFAULT_RULES_PATH }),
        ingestEdr: () => ({ accepted: 0, rejected: {}, byFormat: {} }),
        captureRunning: () => true,
        registry: metrics.registry,
        publicRegistry: metrics.publicRegistry,
        apiRequests: metrics.apiRequests,
        apiLatency: metrics.apiLatency,
      },
    );
    const target = new URL(await app.listen({ host: '127.0.0.1', port: 0 })).host;
    const p = await Prometheus.start(join(dir, 'prom'), target, { bearerToken: OPERATOR });
    prom = p;
    // Wait (bounded) until Prometheus has scraped llmtap successfully at least 3 times.
    await p.waitFor('3 scrapes of llmtap', async () => (await p.value('sum_over_time(up{job="llmtap"}[1m])')) >= 3);
  });

  afterAll(async () => {
    clearInterval(ticker);
    await prom?.stop();
    await app?.close();
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ships dashboards for every area the operators watch', () => {
    const exprs = dashboardExpressions().map((e) => e.expr).join('\n');
    for (const m of [
      'llmtap_source_packets_total', 'llmtap_source_kernel_dropped_packets_total', 'llmtap_decode_errors_total',
      'llmtap_dissect_failures_total', 'llmtap_flow_active_flows', 'llmtap_classify_ai_bytes_total',
      'llmtap_classify_classifications_total', 'llmtap_detect_alerts_total', 'llmtap_attribute_joined_flows_total',
      'llmtap_edr_records_total', 'llmtap_pipeline_lag_seconds', 'process_resident_memory_bytes', 'topk(',
      'llmtap_build_info', 'llmtap_source_kernel_received_packets_total', 'llmtap_source_last_packet_age_seconds',
      'llmtap_api_request_duration_seconds_bucket', 'llmtap_store_writable',
    ]) {
      expect(exprs, m).toContain(m);
    }
  });

  it('every dashboard picks its data source, job and sensors; every series selector is filtered by them', () => {
    const dir = join(repoRoot, 'config', 'grafana', 'dashboards');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
      const d = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
        templating: { list: { name: string; type: string; query: unknown }[] };
        panels: { title: string; datasource: { uid: string }; targets: { expr: string; datasource: { uid: string } }[] }[];
      };
      expect(d.templating.list.map((v) => [v.name, v.type]), f).toEqual([['datasource', 'datasource'], ['job', 'query'], ['instance', 'query']]);
      for (const p of d.panels) {
        expect(p.datasource.uid, `${f} / ${p.title}`).toBe('${datasource}');
        for (const t of p.targets) {
          expect(t.datasource.uid).toBe('${datasource}');
          // every metric name in the expression carries the job and instance matchers
          const names = [...t.expr.matchAll(/\b((?:llmtap|process|nodejs)_[a-z0-9_]+)(\{[^}]*\})?/g)];
          expect(names.length, t.expr).toBeGreaterThan(0);
          for (const m of names) expect(m[2] ?? '', `${f} / ${p.title}: ${m[1]}`).toContain('job=~"$job",instance=~"$instance"');
        }
      }
    }
    const ds = readFileSync(join(repoRoot, 'config', 'grafana', 'provisioning', 'datasources', 'llmtap.yaml'), 'utf8');
    expect(ds).not.toMatch(/^\s*isDefault:/m);
  });

  it('the process panels show llmtap\'s job only, not another exporter on the same Prometheus', async () => {
    const mem = dashboardExpressions().filter((e) => e.panel === 'Process memory');
    expect(mem.length).toBe(2);
    for (const { expr } of mem) {
      const r = await prom!.query(substituteGrafana(expr));
      expect(r.length, expr).toBeGreaterThan(0);
      expect(new Set(r.map((x) => x.metric['job'])), expr).toEqual(new Set(['llmtap']));
    }
    // Prometheus scrapes itself too (job prometheus): the unfiltered query sees both jobs
    const all = await prom!.query('process_resident_memory_bytes');
    expect(new Set(all.map((x) => x.metric['job']))).toEqual(new Set(['llmtap', 'prometheus']));
  });

  it('every shipped alerting rule expression is valid PromQL for this Prometheus', async () => {
    const file = YAML.parse(readFileSync(join(repoRoot, 'config', 'prometheus', 'llmtap-alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
    const rules = file.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert)).toEqual(['LlmtapSensorDown', 'LlmtapCaptureStalled', 'LlmtapKernelDrops', 'LlmtapWorkerDrops',
      'LlmtapEdrJoinRateCollapsed', 'LlmtapStoreWriteFailures', 'LlmtapStoreWritesDropped', 'LlmtapOutputBacklog', 'LlmtapOutputDropped']);
    for (const r of rules) await prom!.query(r.expr); // throws on a parse or evaluation error
    // the healthy test sensor fires none of them
    for (const r of rules) expect(await prom!.query(r.expr), r.alert).toEqual([]);
  });

  it('every dashboard expression returns at least one series', async () => {
    const all = dashboardExpressions();
    expect(all.length).toBeGreaterThan(20);
    const empty: string[] = [];
    for (const { dashboard, panel, expr } of all) {
      const r = await prom!.query(substituteGrafana(expr));
      if (r.length === 0) empty.push(`${dashboard} / ${panel}: ${expr}`);
    }
    expect(empty).toEqual([]);
    // And the values are the feed's, not zeros: traffic and AI bytes are flowing.
    const pps = await prom!.query('sum(rate(llmtap_source_packets_total[15s]))');
    expect(Number(pps[0]?.value[1])).toBeGreaterThan(0);
    const providers = await prom!.query('sum by (provider) (llmtap_classify_ai_bytes_total)');
    expect(providers.map((s) => s.metric['provider']).sort()).toEqual(['anthropic', 'github_copilot', 'openai']);
  });
});
