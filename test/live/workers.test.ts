/**
 * Live capture with several workers (src/workers/live.ts) on a veth pair inside a private
 * namespace, fed by tcpreplay: each worker thread owns a socket in one fanout group and runs the
 * per-packet path. Two workers give the same flow records and DNS answers as one worker and as
 * the file's own packet path, no flow on two workers, both used, per-worker kernel counters;
 * a worker ended mid-run is replaced and counted while the other keeps going; a worker starved by
 * a real CPU quota (its thread alone in a cgroup) reports its own drops.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { replayCommand } from '../../src/cli/replay.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromObject } from '../../src/config.js';
import { Dissector, dissectOptionsFrom } from '../../src/dissect/index.js';
import { flowTableOptionsFrom } from '../../src/flow/table.js';
import { replayFile } from '../../src/pipeline.js';
import type { DnsAnswer, FlowRecord } from '../../src/records.js';
import { repoRoot, startWorkersChild, type WorkersSummary } from './child.js';
import { runCli } from './cli.js';
import { createVethNs, parseTcpreplay, type VethNs } from './netns.js';
import { corpus, prerequisites, vethCaptureMissing } from './prerequisites.js';
import { cpuQuotaUnavailable, limitThreads, threadIds } from './cpu-quota.js';
import { normalDns, normalFlow } from './normal-records.js';

const missing = prerequisites('live workers test', [
  ...vethCaptureMissing(),
  !existsSync(resolve(repoRoot, 'dist', 'workers', 'live-worker.js')) ? 'dist/ not built (npx tsc -p tsconfig.json): worker threads run it' : undefined,
]);
const quotaMissing = prerequisites('live workers CPU quota test', [cpuQuotaUnavailable()])[0];

/** The file's own packet path (what `llmtap replay` runs per packet), normalized. */
async function fromFile(path: string): Promise<{ flows: string[]; dns: string[] }> {
  const cfg = configFromObject({});
  const flows: string[] = [];
  const dns: string[] = [];
  const dissector = new Dissector(dissectOptionsFrom(cfg.dissect, false), { onDns: (a: DnsAnswer) => { dns.push(normalDns(a)); } });
  await replayFile(path, { flow: flowTableOptionsFrom(cfg.flow), dissector, onFlow: (r: FlowRecord) => { flows.push(normalFlow(r)); } });
  return { flows: flows.sort(), dns: dns.sort() };
}

const sorted = (xss: string[][]): string[] => xss.flat().sort();
/** communityId of each normalized flow record → the workers that emitted one. */
function workersByFlow(s: WorkersSummary): Map<string, Set<number>> {
  const m = new Map<string, Set<number>>();
  s.flows.forEach((fs, w) => {
    for (const f of fs) {
      const id = (JSON.parse(f) as { communityId: string }).communityId;
      const set = m.get(id) ?? new Set<number>();
      set.add(w);
      m.set(id, set);
    }
  });
  return m;
}

describe.skipIf(missing.length > 0)('live workers on a veth pair', () => {
  let env: VethNs;
  beforeAll(() => { env = createVethNs('ltw'); });
  afterAll(() => { env?.destroy(); });
  let group = 5100;
  const file = 'ndpi-teams.pcap';
  const path = (): string => resolve(corpus, 'pcaps', file);

  it(`2 workers give the records of 1 worker and of the file's packet path: ${file}`, async () => {
    const want = await fromFile(path());
    expect(want.flows.length).toBeGreaterThan(50);
    expect(want.dns.length).toBeGreaterThan(0);
    const runs: WorkersSummary[] = [];
    let sent = 0;
    for (const n of [1, 2]) {
      const child = await startWorkersChild(env, env.capIf, ++group, n);
      const s = parseTcpreplay(env.run('tcpreplay', ['-i', env.peerIf, '--pps=3000', path()]));
      await new Promise((r) => setTimeout(r, 300));
      runs.push(await child.stop());
      expect(s.failed).toBe(0);
      sent = s.packets;
    }
    const [one, two] = runs as [WorkersSummary, WorkersSummary];
    for (const run of [one, two]) {
      expect(sorted(run.flows)).toEqual(want.flows);
      expect(sorted(run.dns)).toEqual(want.dns);
      expect(run.restarts).toEqual([]);
      expect(run.watermarkBackwards.every((x) => x === 0)).toBe(true);
      for (const w of run.stats) {
        expect(w.kernelDropped).toBe(0);
        expect(w.kernelReceived).toBe(w.packets);
        expect(w.busyRatio).toBeGreaterThan(0);
        expect(w.busyRatio).toBeLessThan(1);
      }
      expect(run.stats.reduce((a, w) => a + w.packets, 0)).toBe(sent);
    }
    // two workers: both used, no flow on both
    expect(two.flows.every((f) => f.length > 0)).toBe(true);
    for (const [id, ws] of workersByFlow(two)) expect([id, ws.size]).toEqual([id, 1]);
  });

  it('a worker ended mid-run is replaced and counted; its new socket rejoins the group', async () => {
    const child = await startWorkersChild(env, env.capIf, ++group, 2);
    const first = parseTcpreplay(env.run('tcpreplay', ['-i', env.peerIf, '--pps=3000', path()]));
    await new Promise((r) => setTimeout(r, 700)); // idle: the workers reported their final counts
    child.proc.kill('SIGUSR2');
    for (let i = 0; i < 200 && !child.output().includes('restarted 1\n'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(child.output()).toContain('restarted 1\n');
    // "restarted" is said when the replacement is spawned; its thread still loads its modules,
    // opens its socket and joins the group. Until it joins, that socket gets a copy of every
    // packet of the interface (skipped by the capture, but counted by the kernel as received),
    // so the second replay starts once the replacement has had time to join.
    await new Promise((r) => setTimeout(r, 1500));
    const second = parseTcpreplay(env.run('tcpreplay', ['-i', env.peerIf, '--pps=3000', path()]));
    await new Promise((r) => setTimeout(r, 300));
    const s = await child.stop();

    expect(s.restarts).toEqual([{ worker: 1, error: 'thread exited (code 1)' }]);
    expect(s.stats.map((w) => w.restarts)).toEqual([0, 1]);
    // every packet of both replays was taken by a socket of the group and processed
    const sent = first.packets + second.packets;
    expect(s.stats.reduce((a, w) => a + w.kernelReceived, 0)).toBe(sent);
    expect(s.stats.reduce((a, w) => a + w.packets, 0)).toBe(sent);
    expect(s.stats.reduce((a, w) => a + w.kernelDropped, 0)).toBe(0);
    // the replacement got its share of the second replay: worker 1 emitted flows after all
    // (the flows its first thread held open were lost with it)
    const want = await fromFile(path());
    const byFlow = workersByFlow(s);
    const w1 = [...byFlow].filter(([, ws]) => ws.has(1)).length;
    expect(w1).toBeGreaterThan(0);
    expect(s.flows[0]!.length + s.flows[1]!.length).toBeLessThan(2 * want.flows.length);
  });

  it.skipIf(quotaMissing !== undefined)('a worker starved by a CPU quota reports its own kernel drops, the other not', async () => {
    // worker 1 (its threads) gets 1 ms of CPU a second and a 1 MiB kernel ring (so it overflows
    // soon; the 3 s of sending span several quota periods);
    // worker 0 keeps the default ring, room enough on a loaded machine
    const child = await startWorkersChild(env, env.capIf, ++group, 2, { bufferBytes: { 1: 1024 * 1024 } });
    const pid = Number(/^pid (\d+)$/m.exec(child.output())?.[1]);
    // each worker's JS thread and the capture thread it started (which inherits its name)
    const quota = limitThreads(threadIds(pid, 'llmtap-live-1'), { quotaUs: 1000, periodUs: 1_000_000 });
    // worker 0 weighs eight default tasks, so other jobs on a loaded machine cannot starve it too
    const favoured = limitThreads(threadIds(pid, 'llmtap-live-0'), { shares: 8192 });
    let s: WorkersSummary;
    let throttled: { periods: number; throttledPeriods: number };
    try {
      const sent = parseTcpreplay(env.run('tcpreplay', ['-i', env.peerIf, '--pps=5000', '--loop=10', path()]));
      expect(sent.failed).toBe(0);
      throttled = quota.throttled();
      // lift the quota so the starved worker can read what its ring still holds and stop
      quota.release();
      await new Promise((r) => setTimeout(r, 300));
      s = await child.stop();
      const [ok, starved] = s.stats;
      if (!ok || !starved) throw new Error('no stats');
      // the quota was really hit
      const stats = JSON.stringify({ throttled, stats: s.stats, sent });
      expect(throttled.throttledPeriods, stats).toBeGreaterThan(0);
      expect(starved.kernelDropped, stats).toBeGreaterThan(0);
      expect(starved.kernelReceived).toBe(starved.packets + starved.kernelDropped);
      // the starved worker lost most of its share; the other (favoured, with a larger ring) none on
      // an idle machine — on a machine loaded past its cores any capture can drop a little, so the
      // check is that the drops are the starved worker's, not that the other's are exactly zero
      const frac = (w: { kernelDropped: number; kernelReceived: number }): number => w.kernelDropped / w.kernelReceived;
      expect(frac(starved), stats).toBeGreaterThan(0.5);
      expect(frac(ok), stats).toBeLessThan(frac(starved) / 4);
      expect(ok.kernelReceived).toBe(ok.packets);
      expect(ok.kernelReceived + starved.kernelReceived).toBe(sent.packets);
      expect(s.restarts).toEqual([]);
    } finally {
      quota.release();
      favoured.release();
    }
  });

  it('llmtap run --workers 2: the named flow records of llmtap replay, and per-worker metrics', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmtap-workers-'));
    try {
      const replayFlows = join(dir, 'replay.ndjson');
      expect(await replayCommand([path(), '--flows', replayFlows, '--db', join(dir, 'replay.db'), '--quiet'])).toBe(0);
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const cfg = join(dir, 'run.json');
      writeFileSync(cfg, JSON.stringify({ api: { host: '127.0.0.1', port }, capture: { fanout_group: ++group } }));
      const liveFlows = join(dir, 'live.ndjson');
      const run = runCli(['run', '--iface', env.capIf, '--workers', '2', '--config', cfg, '--db', join(dir, 'live.db'), '--flows', liveFlows], env, 120_000);
      let scrape = '';
      let sent = 0;
      try {
        expect(await run.waitFor('"capturing"', 60_000), run.stderr()).toBe(true);
        const s = parseTcpreplay(await env.runAsync('tcpreplay', ['-i', env.peerIf, '--pps=3000', path()]));
        expect(s.failed).toBe(0);
        sent = s.packets;
        // the workers' stage counters reach the main thread about twice a second
        await new Promise((r) => setTimeout(r, 1500));
        scrape = await env.runAsync('curl', ['-s', `http://127.0.0.1:${port}/metrics`], 10_000);
      } finally {
        run.kill('SIGTERM');
      }
      const r = await run.done;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('"workers":2');
      // the same named records (hosts from SNI and from DNS answers other workers may have seen)
      const norm = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '')
        .map((l) => normalFlow(JSON.parse(l) as FlowRecord)).sort();
      const want = norm(replayFlows);
      // named from DNS answers (3 flows), and SNI checked against them (29): names matter here
      expect(want.filter((l) => l.includes('"hostSource":"dns-client"'))).toHaveLength(3);
      expect(want.filter((l) => l.includes('"hostAgrees":'))).toHaveLength(29);
      expect(norm(liveFlows)).toEqual(want);
      // per-worker series while running: every packet on one of the two workers, none dropped
      const series = (name: string, w: number): number => {
        const m = new RegExp(`^${name}\\{worker="${w}"\\} (\\S+)$`, 'm').exec(scrape);
        if (!m) throw new Error(`${name}{worker="${w}"} missing from the scrape`);
        return Number(m[1]);
      };
      const packets = [0, 1].map((w) => series('llmtap_worker_packets_total', w));
      expect(packets[0]! + packets[1]!).toBe(sent);
      for (const w of [0, 1]) {
        expect(packets[w]).toBeGreaterThan(0);
        expect(series('llmtap_worker_kernel_received_packets_total', w)).toBe(packets[w]);
        expect(series('llmtap_worker_kernel_dropped_packets_total', w)).toBe(0);
        expect(series('llmtap_worker_restarts_total', w)).toBe(0);
        expect(series('llmtap_worker_busy_ratio', w)).toBeGreaterThan(0);
        expect(series('llmtap_worker_busy_ratio', w)).toBeLessThan(1);
      }
      // the packet path's stage series count the workers' work: the ClientHellos of the file
      const hellos = /^llmtap_dissect_handshakes_total\{transport="tls"\} (\S+)$/m.exec(scrape);
      const cfgD = configFromObject({});
      const d = new Dissector(dissectOptionsFrom(cfgD.dissect, false), { onDns: () => undefined });
      await replayFile(path(), { flow: flowTableOptionsFrom(cfgD.flow), dissector: d, onFlow: () => undefined });
      const wantHellos = d.stats()['tls.hello_parsed'] ?? 0;
      expect(wantHellos).toBeGreaterThan(30);
      expect(Number(hellos?.[1])).toBe(wantHellos);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
