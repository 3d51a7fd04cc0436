/**
 * Fleet mode end to end with real components: a three-node nats-server JetStream cluster
 * (test/helpers/nats.ts), one `llmtap hub` process with the fleet set's EDR feed storing in a
 * throwaway PostgreSQL 15 (test/helpers/postgres.ts), and three
 * `llmtap replay` sensor processes, each with the capture of one device of the fleet set (its
 * traffic on the tap, cut out with tcpdump) and its own NATS user. The new binary `quickprompt`
 * ran on the three devices: the hub raises exactly one H7 alert naming all three — no sensor
 * alone can (each sees one device) — and its alerts, as a SIEM following /v1/alerts sees them,
 * are the alerts of one single-box replay of the three captures together.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveNatsServer, NatsCluster } from '../helpers/nats.js';
import { havePostgres, Postgres } from '../helpers/postgres.js';
import { freePort } from '../helpers/prometheus.js';
import {
  comparableSet, deviceCapture, DEVICES, EDR, fleetTenants, llmtap, pollUntil, SiemPoller, stopProc, tokenSha, waitReady, writeYaml, type ApiAlert, type Proc,
} from '../helpers/fleet.js';

const have = haveNatsServer() && havePostgres();
const dir = mkdtempSync(join(tmpdir(), 'llmtap-fleet-h7-'));
let cluster: NatsCluster;
let pgServer: Postgres | undefined;
let hub: Proc | undefined;
let base = '';
const captures: string[] = [];
let single: ApiAlert[] = [];

/** What every run shares: the fleet set's tenant, the join hold short (a flow without EDR
 * partner waits 2 s of capture time, not 30) so the hub settles soon after the last record. */
const common = () => ({ tenants: fleetTenants(), attribute: { hold_s: 2 }, edr: { tenant: 'fleet' } });
const api = (port: number) => ({ host: '127.0.0.1', port, tokens: [{ tenant: 'fleet', token_sha256: tokenSha }] });

describe.skipIf(!have)('fleet: three sensors, one hub, H7 across the fleet', () => {
  beforeAll(async () => {
    for (const d of DEVICES) captures.push(deviceCapture(dir, d));
    pgServer = await Postgres.start();
    const pgUrl = await pgServer.createDatabase('hub');
    cluster = await NatsCluster.start(join(dir, 'nats'), DEVICES.map((d) => ({ tenant: 'fleet', sensor: `site-${d.name}` })));
    writeFileSync(join(dir, 'hub.pw'), `${cluster.hub.pass}\n`);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    writeYaml(join(dir, 'hub.yaml'), {
      ...common(),
      edr: { tenant: 'fleet', files: [EDR] },
      store: { url: pgUrl },
      api: api(port),
      fleet: { servers: cluster.servers, user: cluster.hub.user, password_file: join(dir, 'hub.pw'), replicas: 3, max_bytes: 64 * 1024 * 1024 },
      log: { level: 'info' },
    });
    for (const d of DEVICES) {
      const c = cluster.sensor('fleet', `site-${d.name}`);
      writeFileSync(join(dir, `site-${d.name}.pw`), `${c.pass}\n`);
      writeYaml(join(dir, `site-${d.name}.yaml`), {
        ...common(),
        store: { path: join(dir, `site-${d.name}.db`) },
        fleet: { servers: cluster.servers, user: c.user, password_file: join(dir, `site-${d.name}.pw`), tenant: 'fleet', sensor: `site-${d.name}`, drain_s: 60 },
      });
    }
    // the single box: the three captures together, the same feed and config, its alerts as
    // the same API serves them
    const onePort = await freePort();
    writeYaml(join(dir, 'single.yaml'), { ...common(), store: { path: join(dir, 'single.db') }, api: api(onePort) });
    const one = llmtap(['replay', '--config', join(dir, 'single.yaml'), '--edr', EDR, '--quiet', '--serve', ...captures]);
    try {
      await waitReady(`http://127.0.0.1:${onePort}`, one);
      const p = new SiemPoller(`http://127.0.0.1:${onePort}`);
      await p.poll();
      single = p.current();
    } finally {
      await stopProc(one);
    }
  }, 180_000);

  afterAll(async () => {
    await stopProc(hub);
    await cluster?.stop();
    await pgServer?.stop();
    if (process.env['KEEP'] === undefined) rmSync(dir, { recursive: true, force: true }); else console.log('KEPT', dir);
  });

  it('the single box sees one H7 for quickprompt on the three devices (the reference)', () => {
    const h7 = single.filter((a) => a.heuristic === 'h7');
    expect(h7).toHaveLength(1);
    expect(h7[0]!.process_name).toBe('quickprompt');
    expect(h7[0]!.evidence.spread?.map((s) => s.device_name)).toEqual(['device-a', 'device-b', 'device-e']);
  });

  it('three sensor processes and a hub: exactly one H7 naming all three devices, the same alerts as the single box, each change seen once', async () => {
    hub = llmtap(['hub', '--config', join(dir, 'hub.yaml')]);
    await waitReady(base, hub);
    const siem = new SiemPoller(base);
    const sensors = DEVICES.map((d) => llmtap(['replay', '--config', join(dir, `site-${d.name}.yaml`), '--format', 'json', captures[DEVICES.indexOf(d)]!]));
    const codes = await Promise.all(sensors.map((s) => s.exited));
    expect(codes, sensors.map((s) => s.out.join('').slice(-1500)).join('\n---\n')).toEqual([0, 0, 0]);
    // each sensor alone: one device, no H7; its records went to NATS
    for (const s of sensors) {
      const sum = JSON.parse(s.out.join('').slice(s.out.join('').indexOf('{'))) as { alerts: { heuristic: string }[]; fleet: { published: number; buffered: number; dropped: number; refused: number } };
      expect(sum.alerts.filter((a) => a.heuristic === 'h7')).toEqual([]);
      expect(sum.fleet.published).toBeGreaterThan(0);
      expect(sum.fleet).toMatchObject({ buffered: 0, dropped: 0, refused: 0 });
    }
    const want = comparableSet(single);
    await pollUntil(siem, () => siem.current().length >= single.length && JSON.stringify(comparableSet(siem.current())) === JSON.stringify(want), 60_000);
    const h7 = siem.current().filter((a) => a.heuristic === 'h7');
    expect(h7, `${JSON.stringify(siem.current().map((a) => [a.heuristic, a.device_name, a.process_name]))}\n${hub.out.join('').slice(-4000)}`).toHaveLength(1);
    expect(h7[0]!.evidence.spread?.map((s) => s.device_name)).toEqual(['device-a', 'device-b', 'device-e']);
    expect(comparableSet(siem.current())).toEqual(want);
    // every change once: strictly increasing sequence numbers, no change handed twice
    const seqs = siem.changes.map((a) => a.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
  }, 180_000);
});
