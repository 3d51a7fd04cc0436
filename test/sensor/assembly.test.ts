/**
 * The sensor assembly (src/sensor/index.ts) on the demo scenario (pcaps/demo): built from the
 * demo config, fed the capture and the EDR feed, finished and closed. Its alerts equal those of
 * the pipeline wired by hand (test/helpers/demo-run.ts, the same run); `finish` stops the
 * sources before the pipeline ends and closes the API only after them; a database that cannot
 * take writes still gets every open flow written and the outputs finished, and comes back as
 * a loss naming each alert not stored; `close` gives it one last try.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { configFromObject, type SensorConfig } from '../../src/config.js';
import type { Alert, FlowRecord } from '../../src/records.js';
import { readCaptureFile } from '../../src/source/file.js';
import { StoreFaultError } from '../../src/store/store.js';
import { buildSensor, currentAlerts, lossReport, SensorBuildError, type Sensor } from '../../src/sensor/index.js';
import { DEMO_DIR, replayDemo } from '../helpers/demo-run.js';

const tmp = mkdtempSync(join(tmpdir(), 'llmtap-sensor-'));
let n = 0;
const db = (): string => join(tmp, `s${n++}.db`);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The demo config (validated as `llmtap.yaml` of the demo folder is), with sections replaced by `extra`. */
function demoConfig(extra: Record<string, unknown> = {}): SensorConfig {
  const raw = parseYaml(readFileSync(join(DEMO_DIR, 'llmtap.yaml'), 'utf8')) as Record<string, unknown>;
  return configFromObject({ ...raw, ...extra }, join(DEMO_DIR, 'llmtap.yaml'), DEMO_DIR);
}
const EDR = join(DEMO_DIR, 'edr', 'llmtap.ndjson');
const key = (a: Alert): string => `${a.heuristic}|${a.deviceId ?? a.clientAddr ?? '-'}|${a.processName ?? '-'}|${a.provider ?? '-'}|${a.count}`;

/** The demo's EDR feed and capture into a built sensor. */
async function feedDemo(sensor: Sensor): Promise<void> {
  const edr = await sensor.readEdrFiles({ extra: [EDR], tenant: 'demo' });
  expect(edr.failures).toEqual([]);
  expect(edr.results.map((r) => r.file)).toEqual([EDR]);
  expect(edr.results[0]!.result.accepted).toBeGreaterThan(0);
  await readCaptureFile(join(DEMO_DIR, 'demo.pcap.gz'), (b) => sensor.pipeline.onBatch(b));
}

describe('sensor assembly', () => {
  it('builds, runs the demo and closes: the alerts of the hand-wired pipeline, every flow written, the store released', async () => {
    const hand = await replayDemo({ dbPath: db() });
    const expected = currentAlerts(hand.store, ['default', 'demo']).map(key).sort();
    hand.store.close();
    expect(expected).toHaveLength(9);

    const flowsFile = join(tmp, 'flows.ndjson');
    const seen: FlowRecord[] = [];
    const sensor = await buildSensor(demoConfig(), { db: db(), flows: { path: flowsFile, mode: 'sync' }, onFlow: (r) => seen.push(r) });
    expect(sensor.tenants()).toEqual(['default', 'demo']);
    await feedDemo(sensor);
    const r = await sensor.finish({ outputsMs: 1000 });
    expect(r).toEqual({ undelivered: [], settled: true });
    // finished, not closed: the store is still readable (the summary reads it)
    expect(currentAlerts(sensor.store, sensor.tenants()).map(key).sort()).toEqual(expected);
    // the flow writer is closed: every flow record the pipeline counted, once, in order
    const lines = readFileSync(flowsFile, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(sensor.pipeline.counters.flows);
    expect(lines.map((l) => (JSON.parse(l) as FlowRecord).flowId)).toEqual(seen.map((f) => f.flowId));
    // finish twice: the same result; close: the store is released
    expect(await sensor.finish({ outputsMs: 1000 })).toBe(r);
    expect(await sensor.close({ outputsMs: 1000 })).toBe(r);
    expect(() => currentAlerts(sensor.store, ['demo'])).toThrow(/not open|closed/);
  }, 120_000);

  it('finish: the sources stop first (the API still up), the open flows follow, then the API closes', async () => {
    const cfg = demoConfig({ api: { host: '127.0.0.1', port: 0 } });
    const events: string[] = [];
    const sensor = await buildSensor(cfg, { db: db(), onFlow: () => { if (events.at(-1) !== 'flow') events.push('flow'); } });
    await feedDemo(sensor);
    const { url } = await sensor.serve();
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    events.length = 0;
    let apiUp: number | undefined;
    sensor.addSource({
      close: async () => {
        apiUp = (await fetch(`${url}/healthz`)).status;
        events.push('source closed');
      },
    });
    const r = await sensor.finish({ outputsMs: 1000 });
    expect(r.apiError).toBeUndefined();
    // the flows still open when the source stopped were emitted after it, by the pipeline's end
    expect(events).toEqual(['source closed', 'flow']);
    expect(apiUp).toBe(200);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    await sensor.close({ outputsMs: 1000 });
  }, 120_000);

  it('a database locked during the run: every flow still written, the outputs finished, the loss names each alert; close stores them', async () => {
    const cfg = demoConfig({ store: { busy_timeout_ms: 50 }, outputs: [{ type: 'file', format: 'ocsf', path: join(tmp, 'alerts.ndjson') }] });
    const flowsFile = join(tmp, 'locked-flows.ndjson');
    const path = db();
    const faults: string[] = [];
    const sensor = await buildSensor(cfg, { db: path, flows: { path: flowsFile, mode: 'sync' }, onStoreFault: (e) => faults.push(e.state) });
    expect(sensor.outputs).toBeDefined();
    // another connection holds the write lock for the whole run
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      await feedDemo(sensor);
      const r = await sensor.finish({ outputsMs: 1000 });
      expect(faults).toEqual(['started']);
      expect(r.flushError).toBeUndefined();
      expect(r.settled).toBe(false);
      // nothing was committed, so the outputs had nothing to deliver, and were finished
      expect(r.undelivered).toEqual([]);
      expect(sensor.outputs).toBeUndefined();
      expect(readFileSync(flowsFile, 'utf8').trim().split('\n')).toHaveLength(sensor.pipeline.counters.flows);
      const loss = r.loss!;
      expect(loss.file).toBe(path);
      expect(loss.status.reason).toBe('busy');
      expect(loss.queued.length + loss.dropped.length).toBe(9);
      const text = lossReport('llmtap test', loss).split('\n');
      expect(text[0]).toMatch(new RegExp(`^llmtap test: LLMTAP_ERR_STORE_FAULT: ${path.replace(/[.]/g, '\\.')}: not stored \\(.*SQLITE_BUSY.*\\): 9 alerts, \\d+ observations, \\d+ other writes$`));
      expect(text.filter((l) => l.startsWith('  not stored: alert al_'))).toHaveLength(9);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    // the lock is gone: close's last try stores what was queued
    await sensor.close({ outputsMs: 1000 });
    const check = new Database(path, { readonly: true });
    expect((check.prepare('SELECT COUNT(*) AS n FROM alerts').get() as { n: number }).n).toBe(9);
    check.close();
  }, 120_000);

  it('a build step that fails is named, with its error: the allowlist into a locked database, an output that cannot start', async () => {
    const path = db();
    const first = await buildSensor(demoConfig(), { db: path });
    await first.close({ outputsMs: 0 });
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      const base = demoConfig();
      const cfg = demoConfig({ store: { busy_timeout_ms: 50 }, allowlist: [...base.allowlist, { tenant: 'demo', process: 'another-tool', justification: 'test entry' }] });
      const err = await buildSensor(cfg, { db: path }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(SensorBuildError);
      expect((err as SensorBuildError).step).toBe('allowlist');
      expect((err as SensorBuildError).cause).toBeInstanceOf(StoreFaultError);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    const cfg = demoConfig({ outputs: [{ type: 'webhook', url: 'http://127.0.0.1:9/hook', secret_file: join(tmp, 'no-such-secret') }] });
    const err = await buildSensor(cfg, { db: path }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SensorBuildError);
    expect((err as SensorBuildError).step).toBe('outputs');
    expect((err as SensorBuildError).message).toMatch(/cannot read secret_file .*no-such-secret/);
    expect(((err as SensorBuildError).cause as { code?: string }).code).toBe('LLMTAP_ERR_CONFIG');
  }, 60_000);
});
