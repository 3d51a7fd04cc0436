/**
 * Fleet transport on a real three-node nats-server 2.9 JetStream cluster (test/helpers/nats.ts):
 * the hub's streams are replicated three times, a re-sent observation id is stored once, and a
 * sensor's NATS user — configured with `sensorPermissions` — cannot publish for another tenant
 * (or another sensor), cannot administer streams and cannot read another tenant's replies: the
 * server refuses, whatever the client sends.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { ensureFleetStreams } from '../../src/fleet/streams.js';
import { configBucket, obsSubject, sensorInbox, STREAM_OBS } from '../../src/fleet/subjects.js';
import { HubRules, publishRules, RULES_KEY } from '../../src/fleet/config-kv.js';
import { Classifier } from '../../src/classify/index.js';
import type { RuleSet } from '../../src/classify/types.js';
import { haveNatsServer, NatsCluster } from '../helpers/nats.js';

const have = haveNatsServer();
const dir = mkdtempSync(join(tmpdir(), 'llmtap-nats-'));
let cluster: NatsCluster;
const conns: NatsConnection[] = [];

async function sensorConn(tenant: string, sensor: string): Promise<NatsConnection> {
  const c = cluster.sensor(tenant, sensor);
  const nc = await connect({ servers: cluster.servers, user: c.user, pass: c.pass, inboxPrefix: sensorInbox(tenant, sensor) });
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
    const v1 = await publishRules(hub, Classifier.fromRuleSet(set('AcmeOne')), ['acme', 'globex'], 3);
    const cache = join(dir, 'acme-rules.json');
    const rules = new HubRules('acme', cache);
    const nc = await sensorConn('acme', 's1');
    void rules.watch(nc);
    const until = async (ok: () => boolean): Promise<void> => {
      for (let i = 0; i < 100 && !ok(); i++) await sleep(100);
    };
    await until(() => rules.version === v1['acme']);
    expect(rules.version).toBe(v1['acme']);
    expect(rules.classifier?.classify({ host: 'llm.acme.example', port: 443, tenant: 'acme' })?.provider).toBe('AcmeOne');
    // a new version at the hub is taken (hot reload)
    const v2 = await publishRules(hub, Classifier.fromRuleSet(set('AcmeTwo')), ['acme'], 3);
    expect(v2['acme']).not.toBe(v1['acme']);
    await until(() => rules.version === v2['acme']);
    expect(rules.classifier?.classify({ host: 'llm.acme.example', port: 443, tenant: 'acme' })?.provider).toBe('AcmeTwo');
    // a broken version is refused; the last good one stays
    const kv = await new Kvm(hub).open(configBucket('acme'));
    await kv.put(RULES_KEY, '{"not": "a rule document"}');
    await until(() => rules.rejected === 1);
    expect(rules.rejected).toBe(1);
    expect(rules.version).toBe(v2['acme']);
    rules.stop();
    // a sensor restarted while the hub is away starts from the cached last good version
    expect(existsSync(cache)).toBe(true);
    const again = new HubRules('acme', cache);
    expect(again.version).toBe(v2['acme']);
    expect(again.classifier?.classify({ host: 'llm.acme.example', port: 443, tenant: 'acme' })?.provider).toBe('AcmeTwo');
    // acme's sensor cannot read globex's bucket
    await expect((async () => (await new Kvm(nc).open(configBucket('globex'))).get(RULES_KEY))()).rejects.toThrow(/Permissions Violation/);
  });
});
