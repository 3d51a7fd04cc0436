/**
 * A real Prometheus (Debian's `prometheus`) on loopback scrapes a listening llmtap API whose
 * metrics are fed by stage-like counters; then every PromQL expression in the shipped Grafana
 * dashboards is evaluated through Prometheus's HTTP API and must return at least one series.
 * Bounded: one scrape per second, at most ~60 s of waiting, the child is killed at the end.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { hashToken } from '../../src/api/auth.js';
import { createMetrics } from '../../src/metrics.js';
import type { FastifyInstance } from 'fastify';
import { Classifier, DEFAULT_RULES_PATH } from '../../src/classify/classifier.js';
import { StageFeed } from './stage-feed.js';
import { Store } from '../../src/store/store.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DASHBOARDS = join(repo, 'config/grafana/dashboards');
const haveProm = spawnSync('prometheus', ['--version']).status === 0;
if (!haveProm && process.env['CI'] === 'true') throw new Error('prometheus is not installed (Debian package `prometheus`)');

/** Grafana's built-in range variables, replaced as Grafana would for a short time range. */
function substitute(expr: string): string {
  return expr.replaceAll('$__rate_interval', '15s').replaceAll('$__interval', '5s').replaceAll('$__range', '1m');
}

interface Target {
  expr: string;
}
interface Panel {
  title: string;
  targets?: Target[];
  panels?: Panel[];
}

/** Every expression of every panel (rows nest panels) of every shipped dashboard. */
export function dashboardExpressions(): Array<{ dashboard: string; panel: string; expr: string }> {
  const out: Array<{ dashboard: string; panel: string; expr: string }> = [];
  for (const f of readdirSync(DASHBOARDS).filter((n) => n.endsWith('.json'))) {
    const d = JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as { panels: Panel[] };
    const walk = (ps: Panel[]): void => {
      for (const p of ps) {
        for (const t of p.targets ?? []) out.push({ dashboard: f, panel: p.title, expr: t.expr });
        if (p.panels) walk(p.panels);
      }
    };
    walk(d.panels);
  }
  return out;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

async function query(promBase: string, expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await fetch(`${promBase}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  if (body.status !== 'success') throw new Error(`query failed: ${expr}: ${body.error ?? res.status}`);
  return body.data?.result ?? [];
}

describe.skipIf(!haveProm)('dashboards against a real Prometheus', () => {
  let app: FastifyInstance;
  let store: Store;
  let prom: ChildProcess | undefined;
  let dir: string;
  let promBase: string;
  let ticker: NodeJS.Timeout;
  const promLog: string[] = [];

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
      { tenants: [{ tenant: 't1', tokenSha256: hashToken('x'.repeat(32)) }] },
      {
        store,
        classifier: Classifier.fromFiles({ rules: DEFAULT_RULES_PATH }),
        ingestEdr: () => ({ accepted: 0, rejected: {}, byFormat: {} }),
        captureRunning: () => true,
        registry: metrics.registry,
        apiRequests: metrics.apiRequests,
      },
    );
    const target = new URL(await app.listen({ host: '127.0.0.1', port: 0 })).host;
    const port = await freePort();
    promBase = `http://127.0.0.1:${port}`;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: llmtap',
        '    metrics_path: /metrics',
        '    static_configs:',
        `      - targets: ['${target}']`,
        '',
      ].join('\n'),
    );
    prom = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=1h',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prom.stderr?.on('data', (b: Buffer) => {
      if (promLog.length < 200) promLog.push(b.toString());
    });
    // Wait (bounded) until Prometheus has scraped llmtap successfully at least 3 times.
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`prometheus did not scrape llmtap in time:\n${promLog.join('').slice(-2000)}`);
      try {
        const r = await query(promBase, 'sum_over_time(up{job="llmtap"}[1m])');
        if (Number(r[0]?.value[1] ?? 0) >= 3) break;
      } catch {
        // not up yet
      }
      await sleep(500);
    }
  });

  afterAll(async () => {
    clearInterval(ticker);
    if (prom && prom.exitCode === null) {
      const exited = new Promise((res) => prom?.once('exit', res));
      prom.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (prom.exitCode === null) prom.kill('SIGKILL');
    }
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
    ]) {
      expect(exprs, m).toContain(m);
    }
  });

  it('every dashboard expression returns at least one series', async () => {
    const all = dashboardExpressions();
    expect(all.length).toBeGreaterThan(20);
    const empty: string[] = [];
    for (const { dashboard, panel, expr } of all) {
      const r = await query(promBase, substitute(expr));
      if (r.length === 0) empty.push(`${dashboard} / ${panel}: ${expr}`);
    }
    expect(empty).toEqual([]);
    // And the values are the feed's, not zeros: traffic and AI bytes are flowing.
    const pps = await query(promBase, 'sum(rate(llmtap_source_packets_total[15s]))');
    expect(Number(pps[0]?.value[1])).toBeGreaterThan(0);
    const providers = await query(promBase, 'sum by (provider) (llmtap_classify_ai_bytes_total)');
    expect(providers.map((s) => s.metric['provider']).sort()).toEqual(['anthropic', 'github_copilot', 'openai']);
  });
});
