/**
 * Fleet transport on a real three-node nats-server 2.9 JetStream cluster (test/helpers/nats.ts):
 * the hub's streams are replicated three times, a re-sent observation id is stored once, and a
 * sensor's NATS user — configured with `sensorPermissions` — cannot publish for another tenant
 * (or another sensor), cannot administer streams and cannot read another tenant's replies: the
 * server refuses, whatever the client sends.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { ensureFleetStreams } from '../../src/fleet/streams.js';
import { configBucket, obsSubject, sensorInbox, STREAM_OBS } from '../../src/fleet/subjects.js';
import { BucketFollower, ConfigPublisher, HubRules, RULES_KEY, SETTINGS_KEY } from '../../src/fleet/config-kv.js';
import { parseTenants } from '../../src/tenants/schema.js';
import { Classifier } from '../../src/classify/index.js';
import type { RuleSet } from '../../src/classify/types.js';
import { configFromObject } from '../../src/config.js';
import { EMIT_HEADER, FleetPublisher } from '../../src/fleet/publisher.js';
import { mkFlow } from '../attribute/helpers.js';
import { haveNatsServer, NatsCluster } from '../helpers/nats.js';
import { LinkProxy } from '../helpers/fleet.js';

const have = haveNatsServer();
const dir = mkdtempSync(join(tmpdir(), 'llmtap-nats-'));
let cluster: NatsCluster;
const conns: NatsConnection[] = [];

async function sensorConn(tenant: string, sensor: string): Promise<NatsConnection> {
  const nc = await cluster.connectSensor(tenant, sensor);
  conns.push(nc);
  return nc;
}

describe.skipIf(!have)('fleet transport: a three-node JetStream cluster, tenant isolation by the server', () => {
  beforeAll(async () => {
    cluster = await NatsCluster.start(dir, [
      { tenant: 'acme', sensor: 's1' },
      { tenant: 'acme', sensor: 's2' },
      { tenant: 'globex', sensor: 's1' },
    ]);
    const nc = await connect({ servers: cluster.servers, user: cluster.hub.user, pass: cluster.hub.pass });
    conns.push(nc);
    await ensureFleetStreams(await jetstreamManager(nc), { replicas: 3, duplicateWindowS: 120, maxAgeS: 3600, maxBytes: 64 * 1024 * 1024, flows: false, ackWaitS: 30 });
  }, 120_000);

  afterAll(async () => {
    for (const nc of conns) await nc.close().catch(() => {});
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the observation stream is replicated on all three nodes', async () => {
    const jsm = await jetstreamManager(conns[0]!);
    const si = await jsm.streams.info(STREAM_OBS);
    expect(si.config.num_replicas).toBe(3);
    expect(si.config.subjects).toEqual(['llmtap.obs.>']);
    const nodes = [si.cluster?.leader, ...(si.cluster?.replicas ?? []).map((r) => r.name)].sort();
    expect(nodes).toEqual(['n1', 'n2', 'n3']);
  });

  it("a sensor publishes its own tenant's observations; the same id again is stored once", async () => {
    const js = jetstream(await sensorConn('acme', 's1'));
    const a = await js.publish(obsSubject('acme', 's1'), JSON.stringify({ obsId: 'acme-1' }), { msgID: 'acme-1' });
    expect(a).toMatchObject({ stream: STREAM_OBS, duplicate: false });
    const again = await js.publish(obsSubject('acme', 's1'), JSON.stringify({ obsId: 'acme-1' }), { msgID: 'acme-1' });
    expect(again).toMatchObject({ stream: STREAM_OBS, seq: a.seq, duplicate: true });
    const jsm = await jetstreamManager(conns[0]!);
    const si = await jsm.streams.info(STREAM_OBS, { subjects_filter: '>' });
    expect(si.state.subjects).toEqual({ 'llmtap.obs.acme.s1': 1 });
  });

  it("a sensor publishing for another tenant, or as another sensor, is refused by the server", async () => {
    const js = jetstream(await sensorConn('acme', 's1'), { timeout: 3000 });
    await expect(js.publish(obsSubject('globex', 's1'), '{}', { msgID: 'x-globex' })).rejects.toThrow(/Permissions Violation for Publish to "llmtap\.obs\.globex\.s1"/);
    await expect(js.publish(obsSubject('acme', 's2'), '{}', { msgID: 'x-s2' })).rejects.toThrow(/Permissions Violation for Publish to "llmtap\.obs\.acme\.s2"/);
    // nor can it make or delete streams
    const jsm = await jetstreamManager(await sensorConn('acme', 's1'), { timeout: 3000 });
    await expect(jsm.streams.delete(STREAM_OBS)).rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.STREAM\.DELETE\.LLMTAP_OBS"/);
    const hub = await jetstreamManager(conns[0]!);
    const si = await hub.streams.info(STREAM_OBS, { subjects_filter: '>' });
    // only acme/s1's one message, nothing for globex or acme/s2
    expect(si.state.subjects).toEqual({ 'llmtap.obs.acme.s1': 1 });
  });

  it("a sensor cannot subscribe outside its own inbox (another tenant's acks, the streams)", async () => {
    const nc = await sensorConn('globex', 's1');
    const errs: string[] = [];
    const sub = nc.subscribe(`${sensorInbox('acme', 's1')}.>`, { callback: (err) => { if (err) errs.push(err.message); } });
    const sub2 = nc.subscribe('llmtap.obs.>', { callback: (err) => { if (err) errs.push(err.message); } });
    await sub.closed.catch((e: Error) => errs.push(e.message));
    await sub2.closed.catch((e: Error) => errs.push(e.message));
    expect(errs.join('\n')).toMatch(/Permissions Violation for Subscription to "_INBOX_acme_s1\.>"/);
    expect(errs.join('\n')).toMatch(/Permissions Violation for Subscription to "llmtap\.obs\.>"/);
  });

  it("config flows down: a sensor watches its tenant's rules, takes each valid version, keeps the last good one (also across a restart), and cannot read another tenant's", async () => {
    const hub = conns[0]!;
    const set = (provider: string): RuleSet => ({
      rules: [{ id: 'base', category: 'api', provider: 'Base', match: { hosts: ['api.base.example'] }, source: 'https://example.org/base' }],
      excluded: [],
      tenants: [{ tenant: 'acme', rules: [{ id: 'acme-own', category: 'api', provider, match: { hosts: ['llm.acme.example'] }, source: 'https://example.org/acme' }] }],
    });
    // as the hub writes them (src/fleet/hub.ts): each tenant's rules (and settings) into its bucket
    const publisher = new ConfigPublisher(hub, 3);
    const publishRules = async (classifier: Classifier, tenants: string[]): Promise<Record<string, string | undefined>> => {
      const v = await publisher.publish({ classifier, tenants: parseTenants(tenants.map((id) => ({ id }))), listAllowlist: () => [] });
      return Object.fromEntries(tenants.map((t) => [t, v[t]?.[RULES_KEY]]));
    };
    const v1 = await publishRules(Classifier.fromRuleSet(set('AcmeOne')), ['acme', 'globex']);
    expect(v1['acme']).toMatch(/\S/);
    const cache = join(dir, 'acme-rules.json');
    const rules = new HubRules('acme', cache);
    const nc = await sensorConn('acme', 's1');
    // as a sensor follows its bucket (src/fleet/sensor.ts), for the rules key alone
    const follower = new BucketFollower('acme', { [RULES_KEY]: rules });
    void follower.follow(nc);
    const until = async (ok: () => boolean): Promise<void> => {
      for (let i = 0; i < 100 && !ok(); i++) await sleep(100);
    };
    await until(() => rules.version === v1['acme']);
    expect(rules.version).toBe(v1['acme']);
    expect(rules.classifier?.classify({ host: 'llm.acme.example', port: 443, tenant: 'acme' })?.provider).toBe('AcmeOne');
    // a new version at the hub is taken (hot reload)
    const v2 = await publishRules(Classifier.fromRuleSet(set('AcmeTwo')), ['acme']);
    expect(v2['acme']).not.toBe(v1['acme']);
    await until(() => rules.version === v2['acme']);
    expect(rules.classifier?.classify({ host: 'llm.acme.example', port: 443, tenant: 'acme' })?.provider).toBe('AcmeTwo');
    // a broken version is refused; the last good one stays
    const kv = await new Kvm(hub).open(configBucket('acme'));
    await kv.put(RULES_KEY, '{"not": "a rule document"}');
    await until(() => rules.rejected === 1);
    expect(rules.rejected).toBe(1);
    expect(rules.version).toBe(v2['acme']);
    follower.stop();
    // a sensor restarted while the hub is away starts from the cached last good version
    expect(existsSync(cache)).toBe(true);
    const again = new HubRules('acme', cache);
    expect(again.version).toBe(v2['acme']);
    expect(again.classifier?.classify({ host: 'llm.acme.example', port: 443, tenant: 'acme' })?.provider).toBe('AcmeTwo');
    // acme's sensor cannot read globex's bucket
    await expect((async () => (await new Kvm(nc).open(configBucket('globex'))).get(RULES_KEY))()).rejects.toThrow(/Permissions Violation/);
    // nor watch it (the tenant settings and allowlist are in the same bucket)
    await expect((async () => (await new Kvm(nc).open(configBucket('globex'), { bindOnly: true })).watch({ key: SETTINGS_KEY }))()).rejects.toThrow(/Permissions Violation/);
  });

  it("a sensor's watermarks follow its capture clock, also with no traffic; a record carries its emit time; nothing follows the final watermark", async () => {
    const cred = cluster.sensor('acme', 's2');
    writeFileSync(join(dir, 's2.pw'), `${cred.pass}\n`);
    const cfg = configFromObject({ fleet: { servers: cluster.servers, user: cred.user, password_file: join(dir, 's2.pw'), tenant: 'acme', sensor: 's2' } });
    let clockUs = 1_000_000;
    const pub = new FleetPublisher(cfg, undefined, undefined, () => clockUs);
    // what the stream holds for acme/s2, in order: [watermark or record's emit time, final]
    const js = jetstream(conns[0]!);
    const seen = async (): Promise<{ wm?: number; final?: boolean; emitUs?: number }[]> => {
      const c = await js.consumers.get(STREAM_OBS, { filter_subjects: obsSubject('acme', 's2') });
      const out: { wm?: number; final?: boolean; emitUs?: number }[] = [];
      const info = await (await jetstreamManager(conns[0]!)).streams.info(STREAM_OBS, { subjects_filter: obsSubject('acme', 's2') });
      const n = info.state.subjects?.[obsSubject('acme', 's2')] ?? 0;
      for (let i = 0; i < n; i++) {
        const m = await c.next({ expires: 2000 });
        if (m === null) break;
        const body = m.json<{ watermarkUs?: number; final?: boolean }>();
        out.push(body.watermarkUs !== undefined ? { wm: body.watermarkUs, final: body.final === true } : { emitUs: Number(m.headers?.get(EMIT_HEADER)) });
      }
      return out;
    };
    pub.start();
    try {
      for (let i = 0; i < 50 && !(await seen()).some((x) => x.wm === 1_000_000); i++) await sleep(100);
      // a quiet link: no record, the clock runs on (a live sensor ticks it), the watermark with it
      clockUs = 5_000_000;
      for (let i = 0; i < 50 && !(await seen()).some((x) => x.wm === 5_000_000); i++) await sleep(100);
      expect((await seen()).map((x) => x.wm)).toContain(5_000_000);
      // a flow that ended at 4 s emitted when the clock is at 6 s: its merge time is 6 s
      clockUs = 6_000_000;
      pub.offer(mkFlow({ origAddr: '10.0.0.1', origPort: 40000, respAddr: '192.0.2.1', respPort: 443, firstTsUs: 3_000_000, lastTsUs: 4_000_000, communityId: '1:emit' }), true);
      pub.watermark(true);
      expect(await pub.drain(10_000)).toBe(true);
      // the clock moves on after the end: no watermark after the final one
      clockUs = 9_000_000;
      await sleep(2500);
      const all = await seen();
      expect(all.filter((x) => x.emitUs !== undefined)).toEqual([{ emitUs: 6_000_000 }]);
      expect(all.at(-1)).toEqual({ wm: 6_000_000, final: true });
      expect(all.filter((x) => x.final === true)).toHaveLength(1);
      const wms = all.filter((x) => x.wm !== undefined).map((x) => x.wm!);
      expect(wms).toEqual([...wms].sort((a, b) => a - b));
      expect(Math.max(...wms)).toBe(6_000_000);
    } finally {
      await pub.close();
    }
  });

  it('a sensor started while its servers are unreachable connects when they answer, and delivers what it spooled', async () => {
    const cred = cluster.sensor('acme', 's1');
    writeFileSync(join(dir, 's1.pw'), `${cred.pass}\n`);
    const port = Number(new URL(cluster.servers[0]!.replace(/^nats:/, 'http:')).port);
    const link = await LinkProxy.start(port);
    link.cut();
    const cfg = configFromObject({ fleet: { servers: [link.url], user: cred.user, password_file: join(dir, 's1.pw'), tenant: 'acme', sensor: 's1' } });
    const pub = new FleetPublisher(cfg, undefined, undefined, () => 2_000_000);
    pub.start();
    try {
      pub.offer(mkFlow({ origAddr: '10.0.0.2', origPort: 40001, respAddr: '192.0.2.1', respPort: 443, firstTsUs: 1_000_000, lastTsUs: 1_500_000, communityId: '1:late-link' }), true);
      await sleep(2000);
      // tried and refused for 2 s: nothing delivered, the record spooled
      expect(pub.stats().connected).toBe(false);
      expect(pub.counts.published).toBe(0);
      expect(pub.stats().buffered).toBeGreaterThan(0);
      link.restore();
      expect(await pub.drain(15_000)).toBe(true);
      expect(pub.stats().connected).toBe(true);
      expect(pub.counts.published).toBe(1);
    } finally {
      await pub.close();
      await link.close();
    }
  });

  it('the watch goes on after the node under the sensor is killed: a version written then still arrives', async () => {
    const hub = conns[0]!;
    const kv = await new Kvm(hub).create(configBucket('acme'), { replicas: 3, history: 5 });
    const rules = new HubRules('acme', undefined);
    // as the sensor connects (src/fleet/publisher.ts): reconnect for ever, quickly
    const nc = await cluster.connectSensor('acme', 's2', { maxReconnectAttempts: -1, reconnectTimeWait: 500 });
    conns.push(nc);
    const doc = (provider: string): string => JSON.stringify(Classifier.fromRuleSet({
      rules: [{ id: 'base', category: 'api', provider, match: { hosts: ['api.base.example'] }, source: 'https://example.org/base' }], excluded: [], tenants: [],
    }).exportDocument('acme'));
    await kv.put(RULES_KEY, doc('BeforeKill'));
    const follower = new BucketFollower('acme', { [RULES_KEY]: rules });
    void follower.follow(nc);
    const until = async (ok: () => boolean, ms: number): Promise<void> => {
      for (const end = Date.now() + ms; !ok() && Date.now() < end;) await sleep(100);
    };
    const provider = (): string | undefined => rules.classifier?.classify({ host: 'api.base.example', port: 443, tenant: 'acme' })?.provider;
    await until(() => provider() === 'BeforeKill', 10_000);
    expect(provider()).toBe('BeforeKill');
    const node = Number(/^n(\d)$/.exec(nc.info?.server_name ?? '')?.[1]) - 1;
    expect([0, 1, 2]).toContain(node);
    await cluster.kill(node);
    try {
      // the hub writes a new version while the sensor's node is down (its stream has a quorum left)
      let written = false;
      for (let i = 0; i < 60 && !written; i++) {
        written = await kv.put(RULES_KEY, doc('AfterKill')).then(() => true, () => false);
        if (!written) await sleep(500);
      }
      expect(written).toBe(true);
      await until(() => provider() === 'AfterKill', 60_000);
      expect(provider()).toBe('AfterKill');
      expect(nc.info?.server_name).not.toBe(`n${node + 1}`);
    } finally {
      follower.stop();
      await cluster.restart(node);
    }
  }, 120_000);
});
