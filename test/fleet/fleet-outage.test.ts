/**
 * Fleet mode when parts fail (test/helpers/fleet.ts: three sensor processes, a hub on
 * PostgreSQL, a three-node nats-server JetStream cluster): the hub killed (-9) and restarted,
 * one NATS node killed while the sensors publish, one sensor's link cut for 60 s. Each time the
 * hub ends with the single-box replay's alerts (one H7 naming the three devices) and a SIEM that
 * follows /v1/alerts through the failure sees every change exactly once. The node kill and the
 * link cut are mid-replay (the sensors read their captures from standard input, written in two
 * halves), with the default reorder hold: the hub's merge waits for an away sensor by its
 * watermark — also for a sensor that had finished and runs again.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveNatsServer } from '../helpers/nats.js';
import { havePostgres } from '../helpers/postgres.js';
import { comparableSet, DEVICES, FleetRig, LinkProxy, pollUntil, sensorSummary, SiemPoller, sensorOf, splitPcap, type Proc } from '../helpers/fleet.js';

const have = haveNatsServer() && havePostgres();
const dir = mkdtempSync(join(tmpdir(), 'llmtap-fleet-out-'));
const rig = new FleetRig(dir);

/** The hub's record and merge counters from its public /metrics. */
async function hubMetrics(base: string): Promise<{ received: number; acked: number; unacked: number; watermarks: number; mergeHeldS: number; late: number; sensorTimeouts: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const v = (re: RegExp): number => Number(re.exec(text)?.[1] ?? Number.NaN);
  return {
    received: v(/^llmtap_fleet_hub_records_total\{outcome="received"\} (\d+)$/m),
    acked: v(/^llmtap_fleet_hub_records_total\{outcome="acked"\} (\d+)$/m),
    unacked: v(/^llmtap_fleet_hub_unacked (\d+)$/m),
    watermarks: v(/^llmtap_fleet_hub_watermarks_total (\d+)$/m),
    mergeHeldS: v(/^llmtap_fleet_hub_merge_held_seconds_total ([\d.e+-]+)$/m),
    late: v(/^llmtap_fleet_hub_late_records_total (\d+)$/m),
    sensorTimeouts: v(/^llmtap_fleet_hub_sensor_timeouts_total (\d+)$/m),
  };
}

async function allExit(ps: Proc[]): Promise<void> {
  const codes = await Promise.all(ps.map((s) => s.exited));
  expect(codes, ps.map((s) => s.out.join('').slice(-1500)).join('\n---\n')).toEqual(ps.map(() => 0));
  for (const s of ps) expect(sensorSummary(s).fleet).toMatchObject({ buffered: 0, dropped: 0, refused: 0 });
}

/** Bounded wait until the hub's counters satisfy `ok`. */
async function waitMetric(ok: (m: Awaited<ReturnType<typeof hubMetrics>>) => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok(await hubMetrics(rig.base)) && Date.now() < deadline) await sleep(200);
  expect(await hubMetrics(rig.base)).toSatisfy(ok);
}

/** The hub ends with the single box's alerts; the SIEM saw each change once, in order. */
async function expectSingleBoxOnce(siem: SiemPoller): Promise<void> {
  const want = comparableSet(rig.single);
  await pollUntil(siem, () => JSON.stringify(comparableSet(siem.current())) === JSON.stringify(want), 90_000);
  const h7 = siem.current().filter((a) => a.heuristic === 'h7');
  expect(h7, rig.hub?.out.join('').slice(-3000)).toHaveLength(1);
  expect(h7[0]!.evidence.spread?.map((s) => s.device_name)).toEqual(['device-a', 'device-b', 'device-e']);
  expect(comparableSet(siem.current())).toEqual(want);
  const seqs = siem.changes.map((a) => a.seq);
  expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  expect(new Set(seqs).size).toBe(seqs.length);
}

describe.skipIf(!have)('fleet: outages lose nothing', () => {
  beforeAll(() => rig.start(), 180_000);
  afterAll(async () => {
    await rig.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the hub killed (-9) with records taken but not committed, then restarted: they come again, nothing twice', async () => {
    // a short ack wait: what the dead hub took is delivered again 5 s after it died; a long
    // reorder hold: nothing goes into detection before the kill
    const cfg = await rig.scenario({ ack_wait_s: 5, reorder_s: 60 });
    await rig.startHub(cfg);
    const siem = new SiemPoller(rig.base);
    await siem.poll();
    const sensors = DEVICES.map((d) => rig.sensor(d));
    await allExit(sensors);
    const published = sensors.reduce((a, s) => a + sensorSummary(s).fleet.published, 0);
    // every record is in the stream and the hub took them all; it holds them: none went through
    // detection, none is acknowledged
    const deadline = Date.now() + 30_000;
    let m = await hubMetrics(rig.base);
    while (m.received < published && Date.now() < deadline) {
      await sleep(200);
      m = await hubMetrics(rig.base);
    }
    expect(m).toMatchObject({ received: published, acked: 0, unacked: published });
    await rig.stopHub('SIGKILL');
    await siem.poll();
    expect(siem.changes).toEqual([]);
    await rig.startHub(rig.withFleet(cfg, { reorder_s: 5 }));
    await expectSingleBoxOnce(siem);
  }, 240_000);

  it('one NATS node killed (-9) while the sensors publish: what was in flight to it is published again, and the alerts are the single box\'s', async () => {
    const cfg = await rig.scenario();
    await rig.startHub(cfg);
    const siem = new SiemPoller(rig.base);
    // every sensor reads its capture from standard input, written in two halves
    const halves = DEVICES.map((_d, i) => splitPcap(rig.captures[i]!, 0.5));
    const sensors = DEVICES.map((d) => rig.sensor(d, { stdin: true }));
    // each one connected (its first watermark at the hub)
    await waitMetric((m) => m.watermarks >= DEVICES.length, 30_000);
    // the first halves read and everything they handed over acknowledged: each sensor's
    // watermarks follow its records, and two more of each came since (their flows are still
    // open, so most of the records come with the second halves)
    const w0 = (await hubMetrics(rig.base)).watermarks;
    sensors.forEach((s, i) => s.child.stdin!.write(halves[i]![0]));
    await waitMetric((m) => m.watermarks >= w0 + 2 * DEVICES.length, 30_000);
    // the node site-a publishes to stops answering: the second half's records and the final
    // watermark go to it and are lost with it when it is killed a few seconds later
    const node = await rig.cluster.nodeOfUser(rig.cluster.sensor('fleet', sensorOf(DEVICES[0]!)).user);
    expect(node).toBeGreaterThanOrEqual(0);
    rig.cluster.freeze(node);
    try {
      await Promise.all(sensors.map((s, i) => new Promise<void>((res) => s.child.stdin!.end(halves[i]![1], () => res()))));
      await sleep(3000);
      await rig.cluster.kill(node);
      await allExit(sensors);
      // site-a's publishes to the dead node failed and went again to another
      expect(sensorSummary(sensors[0]!).fleet.retries).toBeGreaterThan(0);
      await expectSingleBoxOnce(siem);
      expect(await hubMetrics(rig.base)).toMatchObject({ late: 0, sensorTimeouts: 0 });
    } finally {
      await rig.cluster.restart(node);
    }
  }, 240_000);

  it('a sensor that finished (its final watermark) and runs again holds the merge again', async () => {
    const cfg = await rig.scenario();
    await rig.startHub(cfg);
    const siem = new SiemPoller(rig.base);
    const devA = DEVICES.find((d) => d.name === 'a')!;
    // site-a replays its capture to the end: the hub no longer waits for it
    await allExit([rig.sensor(devA)]);
    await waitMetric((m) => m.watermarks >= 1, 30_000);
    const w0 = (await hubMetrics(rig.base)).watermarks;
    // site-a again, reading standard input, nothing written yet: its clock starts over
    const again = rig.sensor(devA, { stdin: true });
    await waitMetric((m) => m.watermarks > w0, 30_000);
    await allExit(DEVICES.filter((d) => d.name !== 'a').map((d) => rig.sensor(d)));
    // the other sites' records wait behind site-a's new watermark, past the reorder hold
    await sleep(8000);
    await siem.poll();
    expect(siem.current().filter((x) => x.device_name === 'device-b' || x.device_name === 'device-e' || x.heuristic === 'h7')).toEqual([]);
    expect((await hubMetrics(rig.base)).mergeHeldS).toBeGreaterThan(2);
    // its capture again (the same records: duplicates JetStream drops), then its end
    again.child.stdin!.end(readFileSync(rig.captures[DEVICES.indexOf(devA)]!));
    await allExit([again]);
    expect(sensorSummary(again).fleet.duplicates).toBeGreaterThan(0);
    await expectSingleBoxOnce(siem);
    expect(await hubMetrics(rig.base)).toMatchObject({ late: 0, sensorTimeouts: 0 });
  }, 240_000);

  // LLMTAP_FLEET_CUT_S shortens the cut for a quick local run; the 60 s is the default
  const CUT_S = Number(process.env['LLMTAP_FLEET_CUT_S'] ?? 60);
  it(`one sensor's link cut for ${CUT_S} s in the middle of its replay, default reorder settings: the hub's merge waits for it, and the alerts are the single box's`, async () => {
    const cfg = await rig.scenario();
    await rig.startHub(cfg);
    const siem = new SiemPoller(rig.base);
    const link = await LinkProxy.start(Number(new URL(rig.cluster.servers[1]!).port));
    try {
      // site-a reads its capture from standard input, written in two halves around the cut
      const [first, rest] = splitPcap(rig.captures[DEVICES.findIndex((d) => d.name === 'a')]!, 0.5);
      const a = rig.sensor(DEVICES.find((d) => d.name === 'a')!, { servers: [link.url], stdin: true });
      // the hub knows site-a (its first watermark) before it reads a packet
      const known = Date.now() + 30_000;
      while ((await hubMetrics(rig.base)).watermarks < 1 && Date.now() < known) await sleep(200);
      expect((await hubMetrics(rig.base)).watermarks).toBeGreaterThanOrEqual(1);
      a.child.stdin!.write(first);
      await sleep(3000);
      link.cut();
      const cutAt = Date.now();
      a.child.stdin!.end(rest);
      await allExit(DEVICES.filter((d) => d.name !== 'a').map((d) => rig.sensor(d)));
      // while site-a is away the hub holds the other sites' records behind its watermark: no
      // alert of device-a, no H7 yet, and nothing went in late
      await sleep(Math.max(0, cutAt + (CUT_S - 5) * 1000 - Date.now()));
      expect(a.child.exitCode).toBeNull();
      await siem.poll();
      expect(siem.current().filter((x) => x.device_name === 'device-a' || x.heuristic === 'h7')).toEqual([]);
      const during = await hubMetrics(rig.base);
      expect(during.mergeHeldS).toBeGreaterThan(CUT_S / 2);
      expect(during.unacked).toBeGreaterThan(0);
      expect(during).toMatchObject({ late: 0, sensorTimeouts: 0 });
      await sleep(Math.max(0, cutAt + CUT_S * 1000 - Date.now()));
      link.restore();
      await allExit([a]);
      expect(sensorSummary(a).fleet.published).toBeGreaterThan(0);
      await expectSingleBoxOnce(siem);
      expect(await hubMetrics(rig.base)).toMatchObject({ late: 0, sensorTimeouts: 0 });
    } finally {
      await link.close();
    }
  }, 300_000);
});
