/**
 * Push outputs at the fleet hub (test/helpers/fleet.ts: three sensor processes, a hub on
 * PostgreSQL, a three-node nats-server JetStream cluster): the hub pushes its alert changes to a
 * signed webhook (a local HTTPS receiver) as a single box does, and a hub restarted mid-stream
 * (SIGTERM, or killed -9) resumes its output where the receiver stopped taking changes — every
 * change of the hub's change log reaches the receiver once, in order, nothing missing across
 * the restart.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveNatsServer } from '../helpers/nats.js';
import { havePostgres } from '../helpers/postgres.js';
import { comparableSet, DEVICES, FleetRig, pollUntil, sensorSummary, SiemPoller, writeYaml, type Proc } from '../helpers/fleet.js';
import { selfSignedCert, startHttps, waitFor } from '../output/helpers.js';

const have = haveNatsServer() && havePostgres();
const dir = mkdtempSync(join(tmpdir(), 'llmtap-fleet-outputs-'));
const rig = new FleetRig(dir);
const KEY = 'a-webhook-signing-key-of-32-bytes!';

async function allExit(ps: Proc[]): Promise<void> {
  const timeout = sleep(120_000).then(() => ps.map((s) => s.child.exitCode));
  const codes = await Promise.race([Promise.all(ps.map((s) => s.exited)), timeout]);
  expect(codes, ps.map((s) => s.out.join('').slice(-1500)).join('\n---\n')).toEqual(ps.map(() => 0));
  for (const s of ps) expect(sensorSummary(s).fleet).toMatchObject({ buffered: 0, dropped: 0, refused: 0 });
}

/** `<alert id>:<seq>` of every change in the hub's database, in seq order (what the output must carry). */
async function changeLog(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ id: string; seq: string }>("SELECT alert_id AS id, tenant_seq AS seq FROM alert_changes WHERE tenant = 'fleet' ORDER BY tenant_seq");
    return r.rows.map((x) => `${x.id}:${Number(x.seq)}`);
  } finally {
    await c.end();
  }
}

describe.skipIf(!have)('fleet: push outputs at the hub', () => {
  let hook: Awaited<ReturnType<typeof startHttps>>;
  let status = 204;

  beforeAll(async () => {
    const tls = selfSignedCert(dir);
    hook = await startHttps(tls, 0, () => status);
    writeFileSync(join(dir, 'hook.key'), `${KEY}\n`);
    writeFileSync(join(dir, 'hook.crt'), tls.cert);
    await rig.start();
  }, 240_000);
  afterAll(async () => {
    await rig.stop();
    await hook?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Every event the receiver took, in arrival order; each body's signature verified. */
  const uids = (): string[] =>
    hook.received.flatMap((r) => {
      const ts = String(r.headers['x-llmtap-timestamp']);
      expect(r.headers['x-llmtap-signature']).toBe(`sha256=${createHmac('sha256', KEY).update(`${ts}.${r.body}`).digest('hex')}`);
      return (JSON.parse(r.body) as { events: { metadata: { uid: string } }[] }).events.map((e) => e.metadata.uid);
    });

  it.each(['SIGTERM', 'SIGKILL'] as const)('a hub stopped (%s) while its receiver refuses, then restarted, delivers every change once, in order', async (signal) => {
    hook.received.length = 0;
    status = 204;
    const base = await rig.scenario({ reorder_s: 1 });
    const cfg = YAML.parse(readFileSync(base, 'utf8')) as { store: { url: string } } & Record<string, unknown>;
    cfg['outputs'] = [{ type: 'webhook', name: 'siem', url: `https://127.0.0.1:${hook.port}/llmtap`, secret_file: join(dir, 'hook.key'), ca_file: join(dir, 'hook.crt'), batch_max: 4, retry_max_ms: 1000 }];
    const config = writeYaml(join(dir, `hub-outputs-${signal}.yaml`), cfg);
    await rig.startHub(config);
    const siem = new SiemPoller(rig.base);

    // two devices: their alerts reach the receiver while the hub runs
    const [a, b, e] = DEVICES;
    await allExit([rig.sensor(a), rig.sensor(b)]);
    await pollUntil(siem, () => siem.changes.length > 0 && uids().length === siem.changes.length, 60_000);
    const first = await changeLog(cfg.store.url);
    expect(uids()).toEqual(first);

    // the receiver refuses; the third device completes the fleet's alerts (H7 among them)
    status = 503;
    await allExit([rig.sensor(e)]);
    const want = comparableSet(rig.single);
    await pollUntil(siem, () => JSON.stringify(comparableSet(siem.current())) === JSON.stringify(want), 60_000);
    expect(siem.current().filter((x) => x.heuristic === 'h7')).toHaveLength(1);
    const all = await changeLog(cfg.store.url);
    expect(all.length).toBeGreaterThan(first.length);
    expect(uids()).toEqual(first);

    // stopped with those changes undelivered — SIGTERM: the output gives up after its wait; -9:
    // at once — and restarted with the receiver back
    const hub = rig.hub!;
    await rig.stopHub(signal);
    if (signal === 'SIGTERM') {
      expect(await hub.exited, hub.out.join('').slice(-2000)).toBe(0);
      expect(hub.out.join('')).toContain('alert changes not delivered at shutdown');
    }
    status = 204;
    await rig.startHub(config);
    await waitFor(() => uids().length >= all.length, 60_000, 'the restarted hub to push the changes it missed');
    await sleep(2000);
    expect(uids()).toEqual(all);
    expect(await changeLog(cfg.store.url)).toEqual(all);
  }, 300_000);
});
