/**
 * Fleet mode end to end with real components (test/helpers/fleet.ts): a three-node nats-server
 * JetStream cluster, one `llmtap hub` process with the fleet set's EDR feed storing in a
 * throwaway PostgreSQL 15, and three `llmtap replay` sensor processes, each with the capture of
 * one device of the fleet set (its traffic on the tap, cut out with tcpdump) and its own NATS
 * user. The new binary `quickprompt` ran on the three devices: the hub raises exactly one H7
 * alert naming all three — no sensor alone can (each sees one device) — and its alerts, as a
 * SIEM following /v1/alerts sees them, are those of one single-box replay of the three
 * captures together, each change seen once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveNatsServer } from '../helpers/nats.js';
import { havePostgres } from '../helpers/postgres.js';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { edrSubject } from '../../src/fleet/subjects.js';
import { comparableSet, DEVICES, EDR, FleetRig, pollUntil, sensorSummary, SiemPoller, type Proc } from '../helpers/fleet.js';

const have = haveNatsServer() && havePostgres();
const dir = mkdtempSync(join(tmpdir(), 'llmtap-fleet-h7-'));
const rig = new FleetRig(dir);

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
    expect(h7[0]!.evidence.spread?.map((s) => s.device_name)).toEqual(['device-a', 'device-b', 'device-e']);
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
    expect(h7[0]!.evidence.spread?.map((s) => s.device_name)).toEqual(['device-a', 'device-b', 'device-e']);
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
      const lines = readFileSync(EDR, 'utf8').split('\n').filter((l) => l.trim() !== '');
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
