/**
 * One tenant's sensor away must not stop the fleet: the hub holds that tenant's records (its
 * merge waits for the away sensor's watermark) without acknowledging them, and a JetStream
 * consumer delivers nothing more once `max_ack_pending` records are taken and not acknowledged
 * — for every tenant. Near that bound the hub lets its oldest held records go on (counted), so
 * another tenant's records still arrive. A real three-node nats-server cluster; the hub's
 * consumer made with a small `max_ack_pending` (40) so the bound is reached with 100 records.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers, nanos, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { ensureFleetStreams } from '../../src/fleet/streams.js';
import { HUB_CONSUMER, obsSubject, STREAM_OBS } from '../../src/fleet/subjects.js';
import { EMIT_HEADER } from '../../src/fleet/publisher.js';
import { HubConsumer } from '../../src/fleet/hub.js';
import { configFromObject } from '../../src/config.js';
import { buildSensor } from '../../src/sensor/index.js';
import type { FlowRecord } from '../../src/records.js';
import { mkFlow } from '../attribute/helpers.js';
import { haveNatsServer, NatsCluster } from '../helpers/nats.js';

const have = haveNatsServer();
const dir = mkdtempSync(join(tmpdir(), 'llmtap-hub-pressure-'));
let cluster: NatsCluster;
const conns: NatsConnection[] = [];

async function sensorJs(tenant: string, sensor: string): Promise<ReturnType<typeof jetstream>> {
  const nc = await cluster.connectSensor(tenant, sensor);
  conns.push(nc);
  return jetstream(nc, { timeout: 10_000 });
}

const T0 = 1_767_225_600_000_000;
const enc = new TextEncoder();

async function publishRecord(js: ReturnType<typeof jetstream>, tenant: string, sensor: string, rec: FlowRecord): Promise<void> {
  const h = headers();
  h.set(EMIT_HEADER, String(rec.lastTsUs));
  await js.publish(obsSubject(tenant, sensor), enc.encode(JSON.stringify(rec)), { msgID: `${tenant}.${sensor}.${rec.firstTsUs}`, headers: h });
}

async function publishWatermark(js: ReturnType<typeof jetstream>, tenant: string, sensor: string, watermarkUs: number, final: boolean): Promise<void> {
  await js.publish(obsSubject(tenant, sensor), enc.encode(JSON.stringify({ watermarkUs, final, sensor })), { msgID: `${tenant}.${sensor}.wm.${watermarkUs}.${final}` });
}

describe.skipIf(!have)('fleet hub: a sensor away holds its tenant, not the fleet', () => {
  beforeAll(async () => {
    cluster = await NatsCluster.start(dir, [
      { tenant: 'acme', sensor: 'a1' },
      { tenant: 'acme', sensor: 'a2' },
      { tenant: 'globex', sensor: 'b1' },
    ]);
    const nc = await connect({ servers: cluster.servers, user: cluster.hub.user, pass: cluster.hub.pass });
    conns.push(nc);
    const jsm = await jetstreamManager(nc);
    await ensureFleetStreams(jsm, { replicas: 3, duplicateWindowS: 120, maxAgeS: 3600, maxBytes: 64 * 1024 * 1024, flows: false, ackWaitS: 30 });
    // the hub finds its consumer already there (as after an upgrade) and takes its bound from it
    await jsm.consumers.delete(STREAM_OBS, HUB_CONSUMER);
    await jsm.consumers.add(STREAM_OBS, { durable_name: HUB_CONSUMER, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: nanos(30_000), max_ack_pending: 40 });
  }, 120_000);

  afterAll(async () => {
    for (const c of conns) await c.close().catch(() => {});
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('another tenant\'s records still arrive while one tenant\'s away sensor holds more records than max_ack_pending; the early ones are counted', async () => {
    const pass = join(dir, 'hub.pass');
    writeFileSync(pass, `${cluster.hub.pass}\n`);
    const cfg = configFromObject({
      tenants: [
        { id: 'acme', cidrs: ['10.1.0.0/16'] },
        { id: 'globex', cidrs: ['10.2.0.0/16'] },
      ],
      attribute: { hold_s: 1 },
      fleet: { servers: cluster.servers, user: cluster.hub.user, password_file: pass, replicas: 3, batch: 10, reorder_s: 1, sensor_timeout_s: 600, ack_wait_s: 30 },
      log: { level: 'silent' },
    }, '(test)', dir);
    let hub: HubConsumer | undefined;
    const sensor = await buildSensor(cfg, { db: join(dir, 'hub.db'), onObservation: (o) => hub?.observed(o) });
    const arrived: Record<string, number> = {};
    const add = sensor.pipeline.addNamedFlow.bind(sensor.pipeline);
    sensor.pipeline.addNamedFlow = (rec, tenant) => {
      arrived[tenant] = (arrived[tenant] ?? 0) + 1;
      add(rec, tenant);
    };
    hub = new HubConsumer(cfg, sensor.pipeline, sensor.store);
    try {
      const a1 = await sensorJs('acme', 'a1');
      const a2 = await sensorJs('acme', 'a2');
      const b1 = await sensorJs('globex', 'b1');
      // a2 says where it is, then goes away: acme's merge waits for it
      await publishWatermark(a2, 'acme', 'a2', T0, false);
      // a1: 100 records after a2's watermark, one a second of capture time
      for (let i = 0; i < 100; i++) {
        const first = T0 + 1 + i * 1_000_000;
        await publishRecord(a1, 'acme', 'a1', mkFlow({ origAddr: '10.1.0.5', origPort: 40_000 + i, respAddr: '192.0.2.10', respPort: 443, firstTsUs: first, lastTsUs: first + 1000 }));
      }
      // globex, behind them in the stream: 10 records and the end of its sensor
      for (let j = 0; j < 10; j++) {
        const first = T0 + 150_000_000 + j * 1_000_000;
        await publishRecord(b1, 'globex', 'b1', mkFlow({ origAddr: '10.2.0.5', origPort: 50_000 + j, respAddr: '192.0.2.20', respPort: 443, firstTsUs: first, lastTsUs: first + 1000 }));
      }
      await publishWatermark(b1, 'globex', 'b1', T0 + 200_000_000, true);
      await hub.start();
      const deadline = Date.now() + 45_000;
      while ((arrived['globex'] ?? 0) < 10 && Date.now() < deadline) await sleep(200);
      // globex got through although acme's away sensor held more than the consumer allows
      expect(arrived['globex'] ?? 0).toBe(10);
      expect(hub.counts.pressureReleased).toBeGreaterThan(0);
      expect(hub.metrics().pressureReleased).toBe(hub.counts.pressureReleased);
      // acme's records went on early only as far as the bound needed, not all of them at once
      expect(hub.counts.pressureReleased).toBeLessThanOrEqual(100);
      expect(hub.counts.sensorTimeouts).toBe(0);
    } finally {
      await hub.stop();
      await sensor.close({ outputsMs: 1000 });
    }
  }, 120_000);
});
