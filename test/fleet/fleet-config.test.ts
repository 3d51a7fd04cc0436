/**
 * Configuration flows down (docs/fleet.md), with real components: a three-node nats-server 2.9
 * JetStream cluster, an `llmtap hub` process storing in a throwaway PostgreSQL 15, and a sensor
 * (built as `llmtap run` builds it, fleet mode on) fed one device's capture at a time. The
 * tenant's definition and allowlist live at the hub: a change there — the config file reloaded
 * with SIGHUP, an allowlist entry added or removed through the hub's API — reaches the running
 * sensor through the tenant's KV bucket and changes what it does (the records it publishes carry
 * the payload entropy the tenant opted in to; the allowlisted binary raises no alert at the
 * sensor) without a restart, and stays over the sensor's own file when that is reloaded. A
 * broken version is refused and counted, the last good one kept; with the hub and NATS away a
 * restarted sensor starts from its on-disk copy.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { loadConfig } from '../../src/config.js';
import { buildSensor, currentAlerts, type Sensor } from '../../src/sensor/index.js';
import type { Store } from '../../src/store/store.js';
import { readCaptureFile } from '../../src/source/file.js';
import { configBucket, obsSubject, STREAM_OBS } from '../../src/fleet/subjects.js';
import { SETTINGS_KEY } from '../../src/fleet/config-kv.js';
import type { FlowRecord } from '../../src/records.js';
import { haveNatsServer } from '../helpers/nats.js';
import { havePostgres } from '../helpers/postgres.js';
import { commonConfig, FleetRig, REWRITTEN, REWRITTEN_EDR, REWRITTEN_SET, sensorOf, TOKEN, writeYaml } from '../helpers/fleet.js';

const have = haveNatsServer() && havePostgres();
const dir = mkdtempSync(join(tmpdir(), 'llmtap-fleet-config-'));
const rig = new FleetRig(dir, REWRITTEN_SET);
const [r1, r2, r3] = REWRITTEN;
const SENSOR = sensorOf(r1);

/** Bounded wait for a condition (the sensor follows the bucket asynchronously). */
async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function sensorConfig(name: string, servers: string[]): string {
  return writeYaml(join(dir, `${name}.yaml`), {
    ...commonConfig(),
    store: { path: join(dir, `${name}.db`) },
    fleet: {
      servers,
      user: rig.cluster.sensor('fleet', SENSOR).user,
      password_file: join(dir, `${SENSOR}.pw`),
      tenant: 'fleet',
      sensor: SENSOR,
      rules_cache: 'cache-rules.json',
      settings_cache: 'cache-settings.json',
      drain_s: 20,
    },
  });
}

/** One device's capture through the sensor, its flows ended and joins settled. */
async function feed(s: Sensor<Store>, d: (typeof REWRITTEN)[number]): Promise<void> {
  const r = await readCaptureFile(REWRITTEN_SET.capture(dir, d), (b) => s.pipeline.onBatch(b));
  expect(r.error).toBeUndefined();
  // the capture's open flows (DNS) end, the join settles, the store commits
  s.pipeline.tick(s.pipeline.packets.nowUs + 600_000_000);
  s.pipeline.settle();
}

describe.skipIf(!have)('fleet: tenant definition and allowlist flow down from the hub to a running sensor', () => {
  beforeAll(() => rig.start(), 180_000);
  afterAll(async () => {
    await rig.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGHUP and API changes at the hub change what a running sensor does; a bad version is refused; the on-disk copy serves a restart with the hub away', async () => {
    const hubCfg = await rig.scenario();
    await rig.startHub(hubCfg);
    const hubNc = await connect({ servers: rig.cluster.servers, user: rig.cluster.hub.user, pass: rig.cluster.hub.pass });
    const jsm = await jetstreamManager(hubNc);
    /** The last flow record the sensor published (as the stream holds it). The sensor's
     * watermarks (one a second) go to the same subject: they are stepped over. */
    const subject = obsSubject('fleet', SENSOR);
    const lastPublished = async (): Promise<FlowRecord | undefined> => {
      let m = await jsm.streams.getMessage(STREAM_OBS, { last_by_subj: subject }).catch(() => null);
      for (let steps = 0; m !== null && steps < 200; steps++) {
        const body = m.json() as FlowRecord & { watermarkUs?: number };
        if (m.subject === subject && body.watermarkUs === undefined) return body;
        if (m.seq <= 1) break;
        m = await jsm.streams.getMessage(STREAM_OBS, { seq: m.seq - 1 }).catch(() => null);
      }
      return undefined;
    };
    let sensor: Sensor<Store> | undefined;
    let v3Final: string | undefined;
    let rulesFinal: string | undefined;
    try {
      sensor = await buildSensor(loadConfig(sensorConfig('sensor', rig.cluster.servers)), { fleet: true });
      const s = sensor;
      const fleet = s.fleet!;
      expect((await s.readEdrFiles({ extra: [REWRITTEN_EDR], tenant: 'fleet' })).failures).toEqual([]);
      // the hub's first versions arrive (rules and settings)
      await until('the hub settings', () => fleet.hubSettings.version !== undefined && fleet.hubRules.version !== undefined);
      const v1 = fleet.hubSettings.version;
      expect(s.pipeline.tenants.get('fleet').payload_entropy).toBe(false);

      // device r1 before any change: published without entropy, H1 for quickprompt at the sensor
      await feed(s, r1);
      await until('r1 published', async () => (await lastPublished())?.origAddr === r1.v4);
      const p1 = (await lastPublished())!;
      expect(p1.host).toBe('api.openai.com');
      expect(p1.payloadEntropy).toBeUndefined();
      const h1 = (): string[] => currentAlerts(s.store, ['fleet']).filter((a) => a.heuristic === 'h1').map((a) => `${a.deviceName}|${a.processName}`).sort();
      expect(h1()).toEqual(['device-r1|quickprompt']);

      // at the hub: the tenant opts in to payload entropy and allowlists quickprompt; SIGHUP
      const c = YAML.parse(readFileSync(hubCfg, 'utf8')) as { tenants: Record<string, unknown>[]; allowlist?: unknown[] };
      c.tenants = c.tenants.map((t) => (t['id'] === 'fleet' ? { ...t, payload_entropy: true } : t));
      c.allowlist = [{ tenant: 'fleet', process: 'quickprompt', justification: 'approved pilot' }];
      writeYaml(hubCfg, c);
      rig.hub!.child.kill('SIGHUP');
      await until('the new settings at the sensor', () => s.pipeline.tenants.get('fleet').payload_entropy && s.store.listAllowlist('fleet').length === 1);
      expect(fleet.hubSettings.version).not.toBe(v1);
      const v2 = fleet.hubSettings.version;
      expect(s.pipeline.tenants.get('fleet').payload_entropy).toBe(true);
      expect(s.store.listAllowlist('fleet').map((e) => [e.processName, e.justification])).toEqual([['quickprompt', 'approved pilot']]);

      // a local reload (SIGHUP at the sensor: its own file again) keeps the hub's settings over it
      const reloaded = await s.reload(loadConfig(join(dir, 'sensor.yaml')));
      expect(reloaded.allowlist).toEqual({ added: 0, removed: 0, kept: 1 });
      expect(s.pipeline.tenants.get('fleet').payload_entropy).toBe(true);
      expect(s.store.listAllowlist('fleet').map((e) => e.processName)).toEqual(['quickprompt']);

      // device r2 after it, same sensor process: its record carries the entropy, and no H1
      await feed(s, r2);
      await until('r2 published', async () => (await lastPublished())?.origAddr === r2.v4);
      const p2 = (await lastPublished())!;
      expect(p2.host).toBe('api.openai.com');
      expect(typeof p2.payloadEntropy).toBe('number');
      expect(h1()).toEqual(['device-r1|quickprompt']);

      // an allowlist entry added through the hub's API reaches the sensor; removed, it goes away
      const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
      const add = await fetch(`${rig.base}/v1/allowlist`, { method: 'POST', headers: auth, body: JSON.stringify({ process_name: 'notetaker', provider: 'openai', justification: 'meeting notes' }) });
      expect(add.status).toBe(201);
      const id = ((await add.json()) as { id: string | number }).id;
      await until('the API entry at the sensor', () => s.store.listAllowlist('fleet').some((e) => e.processName === 'notetaker'));
      expect(s.store.listAllowlist('fleet').map((e) => [e.processName, e.provider ?? null]).sort()).toEqual([['notetaker', 'openai'], ['quickprompt', null]]);
      const del = await fetch(`${rig.base}/v1/allowlist/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
      expect(del.status).toBe(200);
      await until('the API entry gone at the sensor', () => !s.store.listAllowlist('fleet').some((e) => e.processName === 'notetaker'));
      // the version is the content's: back to the SIGHUP's allowlist, back to its version
      const v3 = fleet.hubSettings.version;
      expect(v3).toBe(v2);

      // a broken version (a tenant range that is no CIDR) is refused and counted; the last good one stays
      const kv = await new Kvm(hubNc).open(configBucket('fleet'));
      const good = JSON.parse((await kv.get(SETTINGS_KEY))!.string()) as { tenant: Record<string, unknown> };
      await kv.put(SETTINGS_KEY, JSON.stringify({ ...good, version: 'broken', tenant: { ...good.tenant, cidrs: ['10.77.0.0/33'] } }));
      const applied = fleet.stats().config.settings.applied;
      await until('the refusal', () => fleet.stats().config.settings.rejected === 1);
      expect(fleet.hubSettings.version).toBe(v3);
      expect(s.pipeline.tenants.get('fleet').payload_entropy).toBe(true);
      expect(s.pipeline.tenants.get('fleet').cidrs).toContain('10.77.0.0/24');
      expect(fleet.stats().config.settings).toEqual({ applied, rejected: 1 });

      // the hub goes away: the sensor keeps what it has
      await rig.stopHub();
      await feed(s, r3);
      await until('r3 published', async () => (await lastPublished())?.origAddr === r3.v4);
      expect(typeof (await lastPublished())!.payloadEntropy).toBe('number');
      expect(h1()).toEqual(['device-r1|quickprompt']);
      expect(fleet.hubSettings.version).toBe(v3);
      v3Final = v3;
      rulesFinal = fleet.hubRules.version;
    } finally {
      await sensor?.close({ outputsMs: 1000 });
      await hubNc.close();
    }

    // restarted with the hub and NATS away (no server answers): the on-disk copy is in force
    const again = await buildSensor(loadConfig(sensorConfig('sensor-again', ['nats://127.0.0.1:1'])), { fleet: true });
    try {
      expect(again.fleet!.hubSettings.version).toBe(v3Final);
      expect(again.fleet!.hubRules.version).toBe(rulesFinal);
      expect(again.pipeline.tenants.get('fleet').payload_entropy).toBe(true);
      expect(again.store.listAllowlist('fleet').map((e) => e.processName)).toEqual(['quickprompt']);
    } finally {
      await again.close({ outputsMs: 1000 });
    }
  }, 240_000);
});
