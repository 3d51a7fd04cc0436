/**
 * Fleet mode end to end with real components (test/helpers/fleet.ts): a three-node nats-server
 * JetStream cluster, one `llmtap hub` process with an EDR feed storing in a throwaway
 * PostgreSQL 15, and three `llmtap replay` sensor processes, each with the capture of a
 * different device and its own NATS user. The three captures are one real device's traffic
 * (device-a of the fleet set: its DNS lookup and the new binary `quickprompt` calling OpenAI)
 * with the client address rewritten by tcprewrite to three device addresses
 * (scripts/captures/make-fleet-rewrite.sh, pcaps/fleet/rewritten/), and the feed shows the same
 * binary hash on the three devices. The hub raises exactly one H7 alert naming all three — no
 * sensor alone can (each sees one device) — and its alerts, as a SIEM following /v1/alerts sees
 * them, are those of one single-box replay of the three captures together, each change seen once.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveNatsServer } from '../helpers/nats.js';
import { havePostgres } from '../helpers/postgres.js';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { edrSubject } from '../../src/fleet/subjects.js';
import { haveTool } from '../helpers/tools.js';
import { repoRoot } from '../helpers/corpus.js';
import { comparableSet, FleetRig, pollUntil, REWRITTEN, REWRITTEN_DIR, REWRITTEN_SET, sensorSummary, SiemPoller, type Proc } from '../helpers/fleet.js';

const have = haveNatsServer() && havePostgres();
const dir = mkdtempSync(join(tmpdir(), 'llmtap-fleet-h7-'));
const rig = new FleetRig(dir, REWRITTEN_SET);
const DEVICES = REWRITTEN;
const NAMES = ['device-r1', 'device-r2', 'device-r3'];
const haveRewrite = haveTool('tcprewrite', 'tcpreplay', '--version') && haveTool('editcap', 'wireshark-common', '--version');

describe.skipIf(!haveRewrite)('fleet: the three devices are one real capture rewritten with tcprewrite', () => {
  it('the committed captures and feed are what scripts/captures/make-fleet-rewrite.sh makes', () => {
    const out = mkdtempSync(join(tmpdir(), 'llmtap-rewrite-'));
    try {
      const r = spawnSync(join(repoRoot, 'scripts', 'captures', 'make-fleet-rewrite.sh'), { env: { ...process.env, OUT: out }, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const files = readdirSync(REWRITTEN_DIR).sort();
      expect(files).toEqual(['device-r1.pcap.gz', 'device-r2.pcap.gz', 'device-r3.pcap.gz', 'edr.ndjson']);
      expect(readdirSync(out).sort()).toEqual(files);
      for (const f of files) expect(readFileSync(join(out, f)).equals(readFileSync(join(REWRITTEN_DIR, f))), f).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('each capture holds its own device address only, with valid checksums; the feed the same hash on the three devices', () => {
    const EDR_LINES = readFileSync(REWRITTEN_SET.edr, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { deviceId: string; localAddr: string; sha256: string; processName: string });
    expect(EDR_LINES.map((e) => [e.deviceId, e.localAddr, e.processName])).toEqual(DEVICES.map((d, i) => [NAMES[i], d.v4, 'quickprompt']));
    expect(new Set(EDR_LINES.map((e) => e.sha256)).size).toBe(1);
    for (const d of DEVICES) {
      const r = spawnSync('sh', ['-c', 'gzip -dc "$0" | tcpdump -nn -vv -r -', REWRITTEN_SET.capture(dir, d)], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.split('\n').filter((l) => /^\d\d:/.test(l));
      expect(lines.length).toBe(22);
      // client addresses in the capture: this device's only (servers 10.77.0.2 DNS, .12 OpenAI)
      const addrs = new Set([...r.stdout.matchAll(/\b(10\.77\.0\.\d+)\.\d+ >/g)].map((m) => m[1]));
      expect([...addrs].sort()).toEqual(['10.77.0.12', '10.77.0.2', d.v4].sort());
      // tcpdump checks the IP, TCP and UDP checksums: every one is correct after the rewrite
      expect(r.stdout).not.toMatch(/bad cksum|incorrect/i);
      expect([...r.stdout.matchAll(/cksum 0x[0-9a-f]+ \(correct\)/g)].length).toBe(18);
      expect(r.stdout).not.toContain('10.77.0.101');
    }
  });
});

describe.skipIf(!have)('fleet: three sensors, one hub, H7 across the fleet', () => {
  beforeAll(() => rig.start(), 180_000);
  afterAll(async () => {
    await rig.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the single box sees one H7 for quickprompt on the three devices (the reference)', () => {
    const h7 = rig.single.filter((a) => a.heuristic === 'h7');
    expect(h7).toHaveLength(1);
    expect(h7[0]!.process_name).toBe('quickprompt');
    expect(h7[0]!.evidence.spread?.map((s) => s.device_name)).toEqual(NAMES);
    // and an H1 for quickprompt on each device
    expect(rig.single.filter((a) => a.heuristic === 'h1').map((a) => [a.device_name, a.process_name]).sort()).toEqual(NAMES.map((n) => [n, 'quickprompt']));
    expect(rig.single).toHaveLength(4);
  });

  it('three sensor processes and a hub: exactly one H7 naming all three devices, the same alerts as the single box, each change seen once', async () => {
    const hub = await rig.startHub(await rig.scenario());
    const siem = new SiemPoller(rig.base);
    const sensors = DEVICES.map((d) => rig.sensor(d));
    const codes = await Promise.all(sensors.map((s) => s.exited));
    expect(codes, sensors.map((s) => s.out.join('').slice(-1500)).join('\n---\n')).toEqual([0, 0, 0]);
    // each sensor alone: one device, no H7; its AI-relevant records went to NATS, not its
    // other flows (DNS among them: the prefilter)
    for (const s of sensors) {
      const sum = sensorSummary(s) as ReturnType<typeof sensorSummary> & { flows: number; aiObservations: number };
      expect(sum.alerts.filter((a) => a.heuristic === 'h7')).toEqual([]);
      expect(sum.fleet.published).toBeGreaterThan(0);
      expect(sum.fleet.published).toBe(sum.aiObservations);
      expect(sum.fleet.published).toBeLessThan(sum.flows);
      expect(sum.fleet).toMatchObject({ buffered: 0, dropped: 0, refused: 0 });
    }
    const want = comparableSet(rig.single);
    await pollUntil(siem, () => JSON.stringify(comparableSet(siem.current())) === JSON.stringify(want), 60_000);
    const h7 = siem.current().filter((a) => a.heuristic === 'h7');
    expect(h7, hub.out.join('').slice(-3000)).toHaveLength(1);
    expect(h7[0]!.evidence.spread?.map((s) => s.device_name)).toEqual(NAMES);
    expect(comparableSet(siem.current())).toEqual(want);
    // every change once: strictly increasing sequence numbers, no change handed twice
    const seqs = siem.changes.map((a) => a.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
  }, 180_000);

  it('the EDR feed sent to the hub over NATS (llmtap.edr.<tenant>) instead of a file: the same alerts', async () => {
    const hub: Proc = await rig.startHub(await rig.scenario({}, { edrFiles: false }));
    const nc = await connect({ servers: rig.cluster.servers, user: rig.cluster.hub.user, pass: rig.cluster.hub.pass });
    try {
      // one message per record, as a feed shipper sends them
      const lines = readFileSync(REWRITTEN_SET.edr, 'utf8').split('\n').filter((l) => l.trim() !== '');
      for (const l of lines) nc.publish(edrSubject('fleet'), l);
      await nc.flush();
      let taken = 0;
      for (let i = 0; i < 150 && taken < lines.length; i++) {
        await sleep(200);
        taken = Number(/^llmtap_fleet_hub_edr_records_total (\d+)$/m.exec(await (await fetch(`${rig.base}/metrics`)).text())?.[1] ?? 0);
      }
      expect(taken).toBe(lines.length);
    } finally {
      await nc.close();
    }
    const siem = new SiemPoller(rig.base);
    const sensors = DEVICES.map((d) => rig.sensor(d));
    expect(await Promise.all(sensors.map((s) => s.exited))).toEqual([0, 0, 0]);
    const want = comparableSet(rig.single);
    await pollUntil(siem, () => JSON.stringify(comparableSet(siem.current())) === JSON.stringify(want), 60_000);
    expect(comparableSet(siem.current()), hub.out.join('').slice(-3000)).toEqual(want);
  }, 180_000);
});
