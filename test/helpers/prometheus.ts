/**
 * A real Prometheus (Debian package `prometheus`) on loopback for end-to-end metric tests:
 * started with a 1 s scrape of one target, queried over its HTTP API, stopped (SIGTERM, then
 * SIGKILL after a bounded wait). Also: every PromQL expression of the shipped Grafana
 * dashboards, with Grafana's range variables substituted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from './corpus.js';
import { haveTool } from './tools.js';

/** Whether the binary is there; under CI=true its absence is an error. */
export function havePrometheus(): boolean {
  return haveTool('prometheus', 'prometheus');
}

export interface DashboardExpr {
  dashboard: string;
  panel: string;
  expr: string;
}

interface Panel {
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

/** Every target expression of every panel (rows nest panels) of config/grafana/dashboards. */
export function dashboardExpressions(): DashboardExpr[] {
  const dir = join(repoRoot, 'config', 'grafana', 'dashboards');
  const out: DashboardExpr[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const d = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { panels: Panel[] };
    const walk = (ps: Panel[]): void => {
      for (const p of ps) {
        for (const t of p.targets ?? []) out.push({ dashboard: f, panel: p.title, expr: t.expr });
        if (p.panels !== undefined) walk(p.panels);
      }
    };
    walk(d.panels);
  }
  return out;
}

/** Grafana's built-in range variables, as Grafana fills them for a short dashboard range. */
export function substituteGrafana(expr: string): string {
  // the dashboard variables as chosen for the test's one sensor: job llmtap, every instance
  return expr.replaceAll('$job', 'llmtap').replaceAll('$instance', '.+').replaceAll('$__rate_interval', '20s').replaceAll('$__interval', '5s').replaceAll('$__range', '5m');
}

export async function freePort(): Promise<number> {
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

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export class Prometheus {
  private readonly log: string[] = [];
  private constructor(
    readonly base: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.on('data', (b: Buffer) => {
      if (this.log.length < 400) this.log.push(b.toString());
    });
  }

  /** Start scraping `target` (host:port) every second; data lives under `dir`. With an
   * operator's bearer token it scrapes the full metrics (AI traffic and alerts included). */
  static async start(dir: string, target: string, opts: { bearerToken?: string } = {}): Promise<Prometheus> {
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const cfg = join(dir, 'prometheus.yml');
    writeFileSync(
      cfg,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: llmtap',
        '    metrics_path: /metrics',
        ...(opts.bearerToken !== undefined ? ['    authorization:', '      type: Bearer', `      credentials: '${opts.bearerToken}'`] : []),
        '    static_configs:',
        `      - targets: ['${target}']`,
        // Prometheus's own process_* series: another exporter the dashboards must not mix in
        '  - job_name: prometheus',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${port}']`,
        '',
      ].join('\n'),
    );
    const child = spawn(
      'prometheus',
      [`--config.file=${cfg}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=1h'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    return new Prometheus(`http://127.0.0.1:${port}`, child);
  }

  tail(): string {
    return this.log.join('').slice(-2000);
  }

  async query(expr: string): Promise<Sample[]> {
    const res = await fetch(`${this.base}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { result: Sample[] } };
    if (body.status !== 'success') throw new Error(`query failed: ${expr}: ${body.error ?? res.status}`);
    return body.data?.result ?? [];
  }

  /** First sample's value as a number (NaN when there is none). */
  async value(expr: string): Promise<number> {
    const r = await this.query(expr);
    return Number(r[0]?.value[1] ?? Number.NaN);
  }

  /** Wait (bounded) until `expr` holds: polls every 500 ms. */
  async waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if (await check()) return;
      } catch {
        // not ready yet
      }
      if (Date.now() > deadline) throw new Error(`prometheus: timed out waiting for ${what}\n${this.tail()}`);
      await sleep(500);
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((res) => this.child.once('exit', res));
    this.child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
