/**
 * A live sensor under a storage fault and under overload, inside a private namespace with a
 * veth pair (tcpreplay on the peer end):
 *
 * - The disk fills: `llmtap run` with its database on a small tmpfs the test mounts, filled
 *   before the demo capture is sent at its recorded timing. `/readyz` answers 503 with
 *   `db_fault: full`, the store metrics show alerts queued, one log line says the database is not
 *   writable; nothing reaches the file. The disk frees: one log line says the queued writes
 *   were stored, `/readyz` is ready again, and the database holds exactly the alerts a replay
 *   of the same capture and feed stores.
 * - A burst of new flows against tiny overload budgets: one log line when the episode starts and
 *   one when it ends, `/readyz` shows the shedding level during the burst and `normal` after,
 *   the metrics count the shed flows as the end line does, and every flow is still emitted.
 */
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline as streamPipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { replayCommand } from '../../src/cli/replay.js';
import { currentAlerts } from '../../src/sensor/index.js';
import { loadConfig } from '../../src/config.js';
import { loadNative } from '../../src/source/live.js';
import { Store } from '../../src/store/store.js';
import { faultsUnavailable, mountTmpfs, type Tmpfs } from '../helpers/fs-faults.js';
import { repoRoot } from './child.js';
import { runCli } from './cli.js';
import { alertKey, feedForLive } from './demo-feed.js';
import { createVethNs, netnsUnavailable, parseTcpreplay, type VethNs } from './netns.js';

const demo = join(repoRoot, 'pcaps', 'demo');
const demoFeed = join(demo, 'edr', 'llmtap.ndjson');
const ci = process.env['CI'] === 'true';
const missing = [
  netnsUnavailable(),
  faultsUnavailable(),
  loadNative() instanceof Error ? 'native binding not built (npm run build:native)' : undefined,
].filter((x): x is string => x !== undefined);
if (ci && missing.length > 0) it('live fault prerequisites', () => { throw new Error(missing.join('; ')); });

const tenants = ['demo', 'default'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The demo's config (absolute rule dir) with the given feed, database and extra sections. */
function writeConfig(path: string, feed: string, db: string, extra: Record<string, unknown> = {}): void {
  const raw = parseYaml(readFileSync(join(demo, 'llmtap.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  raw['rules'] = { ...raw['rules'], tenant_dir: join(demo, 'rules') };
  raw['edr'] = { ...raw['edr'], files: [feed] };
  raw['store'] = { ...raw['store'], path: db };
  writeFileSync(path, toYaml({ ...raw, ...extra }));
}

function alertsIn(db: string): string[] {
  const store = Store.open(db);
  try {
    return currentAlerts(store, tenants).map(alertKey).sort();
  } finally {
    store.close();
  }
}

/** GET on the sensor's API inside the namespace: status and parsed JSON (or text). */
async function get(env: VethNs, port: number, path: string): Promise<{ status: number; body: string }> {
  const out = await env.runAsync('curl', ['-s', '-o', '-', '-w', '\n%{http_code}', `http://127.0.0.1:${port}${path}`], 10_000);
  const i = out.lastIndexOf('\n');
  return { status: Number(out.slice(i + 1)), body: out.slice(0, i) };
}

/** Value of one series in a Prometheus exposition text (undefined when absent). */
function metric(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  return undefined;
}

const count = (text: string, needle: string): number => text.split(needle).length - 1;

describe.skipIf(missing.length > 0)('live storage faults and overload', () => {
  let env: VethNs;
  let dir: string;
  let pcap: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llmtap-live-faults-'));
    env = createVethNs('ltf');
    pcap = join(dir, 'demo.pcap'); // tcpreplay reads plain pcap only
    await streamPipeline(createReadStream(join(demo, 'demo.pcap.gz')), createGunzip(), createWriteStream(pcap));
  }, 60_000);
  afterAll(() => {
    env?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the disk fills during a live run: not ready, alerts queued, one line each way; freed, every alert lands', async () => {
    // the replay's alerts: recorded capture, recorded feed, same config
    const replayCfg = join(dir, 'replay.yaml');
    writeConfig(replayCfg, demoFeed, join(dir, 'replay.db'));
    expect(await replayCommand([pcap, '--config', replayCfg, '--quiet'])).toBe(0);
    const want = alertsIn(join(dir, 'replay.db'));
    expect(want).toHaveLength(9);

    let fs: Tmpfs | undefined = mountTmpfs(8192);
    try {
      const db = join(fs.dir, 'live.db');
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const feed = feedForLive(demoFeed, join(dir, 'feed.ndjson'), Date.now(), loadConfig(join(demo, 'llmtap.yaml')).attribute.learn_window_ms, 3_600_000, { always: true });
      const cfg = join(dir, 'live.yaml');
      writeConfig(cfg, feed.path, db, { api: { host: '127.0.0.1', port }, log: { level: 'info' } });
      const raw = parseYaml(readFileSync(cfg, 'utf8')) as Record<string, Record<string, unknown>>;
      raw['store'] = { ...raw['store'], retry_interval_ms: 500 };
      writeFileSync(cfg, toYaml(raw));
      const run = runCli(['run', '--iface', env.capIf, '--config', cfg], env, 300_000);
      try {
        expect(await run.waitFor('"capturing"', 60_000), run.stderr()).toBe(true);
        expect(await run.waitFor('API listening', 30_000), run.stderr()).toBe(true);
        expect((await get(env, port, '/readyz')).status).toBe(200);
        const filler = fs.fill();

        const sent = parseTcpreplay(await env.runAsync('tcpreplay', ['-i', env.peerIf, pcap], 90_000));
        expect(sent.packets).toBe(10616);
        // the hold (30 s) and the flow timers run on the wall clock: every alert is raised (and
        // queued) within their settle time
        const c = loadConfig(join(demo, 'llmtap.yaml'));
        await sleep((c.attribute.hold_s + c.flow.tcp_closed_s + 15) * 1000);
        const ready = await get(env, port, '/readyz');
        const queuedAlerts = metric((await get(env, port, '/metrics')).body, 'llmtap_store_queue_depth{kind="alert"}') ?? 0;
        expect(ready.status).toBe(503);
        const r = JSON.parse(ready.body) as Record<string, unknown>;
        expect(r).toMatchObject({ ready: false, capture: true, db_writable: false, db_fault: 'full', db_fault_detail: 'database or disk is full' });
        expect(r['db_queued']).toBeGreaterThan(0);
        expect(queuedAlerts).toBeGreaterThanOrEqual(9); // the nine alerts and their contributions
        const m = (await get(env, port, '/metrics')).body;
        expect(metric(m, 'llmtap_store_writable')).toBe(0);
        expect(metric(m, 'llmtap_store_fault_episodes_total{reason="full"}')).toBe(1);
        expect(count(run.stderr(), 'database not writable')).toBe(1);
        expect(count(run.stderr(), 'database writable again')).toBe(0);
        expect(alertsIn(db)).toEqual([]);

        rmSync(filler);
        expect(await run.waitFor('database writable again', 30_000), run.stderr()).toBe(true);
        expect((await get(env, port, '/readyz')).status).toBe(200);
        const line = JSON.parse(run.stderr().split('\n').find((l) => l.includes('database writable again')) ?? '{}') as Record<string, unknown>;
        expect(line).toMatchObject({ db, reason: 'full', dropped: 0 });
        expect(line['writes']).toBeGreaterThan(0);
        // the queue lands in one retry; the sensor's 1 s ticker may add nothing new
        let got = alertsIn(db);
        for (let i = 0; i < 20 && JSON.stringify(got) !== JSON.stringify(want); i++) {
          await sleep(1000);
          got = alertsIn(db);
        }
        expect(got).toEqual(want);
      } finally {
        run.kill('SIGTERM');
      }
      const done = await run.done;
      expect(done.code, done.stderr).toBe(0);
      expect(count(done.stderr, 'database not writable')).toBe(1);
      expect(count(done.stderr, 'database writable again')).toBe(1);
      expect(alertsIn(db)).toEqual(want);
      fs.cleanup();
      fs = undefined;
    } finally {
      fs?.cleanup();
    }
  }, 300_000);

  for (const workers of [1, 2]) it(`a burst of new flows: shed in order, one line each way, readiness and metrics say so, every flow emitted (${workers === 1 ? 'one packet path' : `${workers} capture workers`})`, async () => {
    // 3000 SYNs to distinct ports: 3000 new flows in ~3 s against budgets of 20 and 100 per second
    const burst = join(dir, `burst-${workers}.pcap`);
    const n = 3000;
    const rec = 16 + 54;
    const b = Buffer.alloc(24 + n * rec);
    b.writeUInt32LE(0xa1b2c3d4, 0); b.writeUInt16LE(2, 4); b.writeUInt16LE(4, 6); b.writeUInt32LE(65535, 16); b.writeUInt32LE(1, 20);
    for (let k = 0; k < n; k++) {
      const o = 24 + k * rec;
      b.writeUInt32LE(1_767_225_600 + Math.floor(k / 1000), o); b.writeUInt32LE((k % 1000) * 1000, o + 4);
      b.writeUInt32LE(54, o + 8); b.writeUInt32LE(54, o + 12);
      const f = o + 16;
      b[f] = 0x02; b[f + 6] = 0x02; b.writeUInt16BE(0x0800, f + 12);
      const ip = f + 14;
      b[ip] = 0x45; b.writeUInt16BE(40, ip + 2); b[ip + 8] = 64; b[ip + 9] = 6;
      b.set([10, 0, 0, 5], ip + 12); b.set([172, 16, 0, 1], ip + 16);
      const tcp = ip + 20;
      b.writeUInt16BE(40000, tcp); b.writeUInt16BE(1 + k, tcp + 2);
      b[tcp + 12] = 0x50; b[tcp + 13] = 0x02;
    }
    writeFileSync(burst, b);

    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const cfg = join(dir, `overload-${workers}.yaml`);
    const flowsOut = join(dir, `overload-flows-${workers}.ndjson`);
    writeConfig(cfg, demoFeed, join(dir, `overload-${workers}.db`), {
      api: { host: '127.0.0.1', port },
      overload: { dissect_new_flows_per_s: 20, analyze_new_flows_per_s: 100, max_lag_s: 600, recover_s: 2 },
    });
    // with workers the governor counts the new flows of every worker's table and sets the level
    // they all create flows at
    const run = runCli(['run', '--iface', env.capIf, '--config', cfg, '--flows', flowsOut, ...(workers > 1 ? ['--workers', String(workers)] : [])], env, 200_000);
    let maxLevel = 0;
    try {
      expect(await run.waitFor('"capturing"', 60_000), run.stderr()).toBe(true);
      expect(await run.waitFor('API listening', 30_000), run.stderr()).toBe(true);
      let sending = true;
      const sent = env.runAsync('tcpreplay', ['-i', env.peerIf, '--pps=1000', burst], 60_000).finally(() => { sending = false; });
      while (sending) {
        const r = JSON.parse((await get(env, port, '/readyz')).body) as { ready: boolean; overload?: { level: number } };
        expect(r.ready).toBe(true); // degraded, still ready
        maxLevel = Math.max(maxLevel, r.overload?.level ?? 0);
        await sleep(200);
      }
      expect(parseTcpreplay(await sent).packets).toBe(n);
      expect(await run.waitFor('overload over', 30_000), run.stderr()).toBe(true);
      const r = JSON.parse((await get(env, port, '/readyz')).body) as { overload: Record<string, unknown> };
      expect(r.overload).toMatchObject({ level: 0, state: 'normal' });
      const line = JSON.parse(run.stderr().split('\n').find((l) => l.includes('overload over')) ?? '{}') as Record<string, number>;
      expect(line['maxLevel']).toBe(2);
      expect(line['undissected']).toBeGreaterThan(0);
      expect(line['undissected']).toBeLessThanOrEqual(n);
      expect(line['unanalyzed']).toBeGreaterThan(0);
      expect(line['unanalyzed']).toBeLessThanOrEqual(line['undissected']!);
      expect(r.overload).toMatchObject({ undissected_flows: line['undissected'], unanalyzed_flows: line['unanalyzed'] });
      const m = (await get(env, port, '/metrics')).body;
      expect(metric(m, 'llmtap_overload_episodes_total')).toBe(1);
      expect(metric(m, 'llmtap_overload_shed_flows_total{stage="dissect"}')).toBe(line['undissected']);
      expect(metric(m, 'llmtap_overload_shed_flows_total{stage="analysis"}')).toBe(line['unanalyzed']);
      expect(metric(m, 'llmtap_overload_level')).toBe(0);
      // both workers had part of the burst
      if (workers > 1) for (let w = 0; w < workers; w++) expect(metric(m, `llmtap_worker_packets_total{worker="${w}"}`)).toBeGreaterThan(0);
    } finally {
      run.kill('SIGTERM');
    }
    const done = await run.done;
    expect(done.code, done.stderr).toBe(0);
    expect(maxLevel).toBe(2);
    expect(count(done.stderr, '"overload: new flows arrive faster')).toBe(1);
    expect(count(done.stderr, 'overload over')).toBe(1);
    // never stop counting: every SYN is a flow record
    const flows = readFileSync(flowsOut, 'utf8').trim().split('\n');
    expect(flows).toHaveLength(n);
  }, 200_000);
});
