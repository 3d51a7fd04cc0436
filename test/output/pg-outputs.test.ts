/**
 * Push outputs over the fleet hub's PostgreSQL store, whose reads answer with promises: the demo
 * replayed into PostgreSQL with a signed webhook (a local HTTPS receiver) and CEF over TCP (a
 * real rsyslogd) configured, the outputs polling while detection writes, delivers every change of
 * its change log once, in order, for the same alerts as the same run over SQLite. Each output's position is kept in
 * PostgreSQL: outputs started again resume there — what the receiver did not take before they
 * stopped comes after, nothing twice.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEdrFile } from '../../src/attribute/ingest.js';
import { configFromObject, loadConfig, type SensorConfig } from '../../src/config.js';
import { Outputs, type ChangeSource } from '../../src/output/outputs.js';
import { Pipeline } from '../../src/pipeline.js';
import { configAllowlistEntries } from '../../src/sensor/allowlist.js';
import { configTenants, finishOutputs } from '../../src/sensor/outputs.js';
import { readCaptureFile } from '../../src/source/file.js';
import { PgStore } from '../../src/store/pg/store.js';
import { Store } from '../../src/store/store.js';
import { DEMO_DIR } from '../helpers/demo-run.js';
import { havePostgres, Postgres } from '../helpers/postgres.js';
import { haveTool } from '../helpers/tools.js';
import { selfSignedCert, startHttps, startRsyslog, waitFor, type Received } from './helpers.js';

const haveRsyslog = haveTool('rsyslogd', 'rsyslog', '-v');
const present = havePostgres() && haveRsyslog;
const KEY = 'a-webhook-signing-key-of-32-bytes!';
const ctx = { version: 'test', hostname: 'hub-1' };

interface OcsfEvent {
  metadata: { uid: string };
  finding_info: { uid: string };
  [k: string]: unknown;
}

/** Every event the webhook receiver got, in arrival order; each body's signature verified. */
function events(received: Received[]): OcsfEvent[] {
  return received.flatMap((r) => {
    const ts = String(r.headers['x-llmtap-timestamp']);
    expect(r.headers['x-llmtap-signature']).toBe(`sha256=${createHmac('sha256', KEY).update(`${ts}.${r.body}`).digest('hex')}`);
    return (JSON.parse(r.body) as { events: OcsfEvent[] }).events;
  });
}

/**
 * Replays the demo (EDR feed, capture) through a pipeline over `store` while outputs follow it,
 * polling every 20 ms; then commits and finishes the outputs as the hub's shutdown does.
 */
async function replayWithOutputs(cfg: SensorConfig, store: (Store | PgStore) & ChangeSource): Promise<{ left: unknown[]; counters: unknown }> {
  const outputs = new Outputs(store, ctx, (p) => p);
  await outputs.follow(configTenants(cfg));
  await outputs.configure(cfg.outputs);
  outputs.start(20);
  const pipeline = new Pipeline(cfg, { store });
  await readEdrFile(join(DEMO_DIR, 'edr', 'llmtap.ndjson'), { tenant: 'demo', lineageKey: cfg.attribute.lineage_key }, (r) => pipeline.addEdr(r));
  await readCaptureFile(join(DEMO_DIR, 'demo.pcap.gz'), (b) => pipeline.onBatch(b));
  pipeline.finish();
  if (store instanceof PgStore) await store.commit();
  else store.flush();
  const counters = outputs.counters();
  return { left: await finishOutputs(outputs, 10_000), counters };
}

describe.skipIf(!present)('outputs over PostgreSQL: the demo delivers what it delivers over SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llmtap-pgout-'));
  let server: Postgres;
  let rsyslog: Awaited<ReturnType<typeof startRsyslog>>;
  let hookSqlite: Awaited<ReturnType<typeof startHttps>>;
  let hookPg: Awaited<ReturnType<typeof startHttps>>;
  let sqliteStore: Store;
  let pgStore: PgStore;
  let runs: { left: unknown[] }[];
  let hookStatus = 204;
  let pgConfig: SensorConfig;

  beforeAll(async () => {
    server = await Postgres.start();
    const tls = selfSignedCert(dir);
    rsyslog = await startRsyslog(dir);
    hookSqlite = await startHttps(tls);
    hookPg = await startHttps(tls, 0, () => hookStatus);
    writeFileSync(join(dir, 'hook.key'), `${KEY}\n`);
    const demo = loadConfig(join(DEMO_DIR, 'llmtap.yaml'));
    const withOutputs = (hookPort: number, syslog: boolean): SensorConfig => ({
      ...demo,
      outputs: configFromObject({
        outputs: [
          { type: 'webhook', url: `https://127.0.0.1:${hookPort}/llmtap`, secret_file: join(dir, 'hook.key'), ca_file: tls.certFile, batch_max: 4 },
          ...(syslog ? [{ type: 'syslog', url: `tcp://127.0.0.1:${rsyslog.tcpPort}`, format: 'cef' }] : []),
        ],
      }).outputs,
    });
    sqliteStore = Store.open(join(dir, 'demo.db'));
    sqliteStore.replaceConfigAllowlist(configAllowlistEntries(demo));
    pgStore = await PgStore.open(await server.createDatabase('demo'));
    await pgStore.replaceConfigAllowlist(configAllowlistEntries(demo));
    pgConfig = withOutputs(hookPg.port, true);
    runs = [await replayWithOutputs(withOutputs(hookSqlite.port, false), sqliteStore), await replayWithOutputs(pgConfig, pgStore)];
  }, 240_000);

  afterAll(async () => {
    sqliteStore?.close();
    await pgStore?.close();
    await hookSqlite?.close();
    await hookPg?.close();
    await rsyslog?.stop();
    await server?.stop();
  }, 60_000);

  it('both runs delivered everything', () => {
    expect(runs.map((r) => r.left)).toEqual([[], []]);
  });

  it('the webhook got every change of the PostgreSQL change log once, in seq order, for the alerts of the SQLite run', async () => {
    const log = await pgStore.listAlertChanges('demo', { afterSeq: 0, limit: 1000 });
    expect(log.length).toBeGreaterThan(9);
    const pg = events(hookPg.received);
    expect(pg.map((e) => e.metadata.uid)).toEqual(log.map((a) => `${a.id}:${a.seq}`));
    const sqlite = events(hookSqlite.received);
    expect(sqlite.map((e) => e.metadata.uid)).toEqual(sqliteStore.listAlertChanges('demo', { afterSeq: 0, limit: 1000 }).map((a) => `${a.id}:${a.seq}`));
    // The same alerts. Not event for event: detect coalesces an alert's updates until its store
    // commits (src/detect/dedup.ts), and reads of the PostgreSQL store commit first, so the
    // outputs' polls during the replay split runs of updates into a number of committed states
    // that depends on timing (every committed state still reaches the receiver once, checked
    // above).
    const alertIds = (evs: OcsfEvent[]): string[] => [...new Set(evs.map((e) => e.finding_info.uid))].sort();
    expect(alertIds(pg)).toEqual(alertIds(sqlite));
    expect(alertIds(pg)).toEqual([...new Set(log.map((a) => a.id))].sort());
    // Each alert's final state is the same, field for field, but for which change it is: its
    // sequence number (metadata.uid `<alert id>:<seq>`, metadata.sequence) counts the committed
    // states before it, which depends on timing as said above.
    const finalStates = (evs: OcsfEvent[]): [string, unknown][] => {
      const last = new Map<string, unknown>();
      for (const e of evs) {
        const { uid: _uid, sequence: _seq, ...metadata } = e.metadata as Record<string, unknown>;
        last.set(e.finding_info.uid, { ...e, metadata });
      }
      return [...last.entries()].sort(([a], [b]) => a.localeCompare(b));
    };
    expect(finalStates(pg)).toEqual(finalStates(sqlite));
  });

  it('rsyslog got one CEF message per change of the PostgreSQL change log, in order', async () => {
    const log = await pgStore.listAlertChanges('demo', { afterSeq: 0, limit: 1000 });
    await waitFor(() => rsyslog.lines('tcp').length >= log.length, 10_000, 'rsyslog to write every change');
    const ids = rsyslog.lines('tcp').map((l) => /externalId=(\S+)/.exec(l)?.[1]);
    expect(ids).toEqual(log.map((a) => a.id));
  });

  it('each output resumes from its stored position: changes the receiver refused before a stop come after a restart, nothing twice', async () => {
    const log = await pgStore.listAlertChanges('demo', { afterSeq: 0, limit: 1000 });
    const last = log[log.length - 1]!.seq!;
    // where the replay's outputs stopped: everything delivered (tenant default had no change)
    expect(await pgStore.outputPositions('webhook-0')).toEqual(new Map([['demo', last]]));
    expect(await pgStore.outputPositions('syslog-1')).toEqual(new Map([['demo', last]]));
    const start = async (): Promise<Outputs> => {
      const o = new Outputs(pgStore, ctx, (p) => p);
      await o.follow(configTenants(pgConfig));
      await o.configure(pgConfig.outputs);
      return o;
    };
    const before = hookPg.received.length;
    // started again: nothing new to push
    let o = await start();
    expect(await o.poll()).toBe(0);
    // three changes (API status changes) while the receiver refuses; the outputs stop with them undelivered
    hookStatus = 503;
    const ids = [log[0]!.id, log[1]!.id, log[2]!.id];
    for (const id of ids) expect(await pgStore.setAlertStatus('demo', id, 'acknowledged')).toBeDefined();
    expect(await o.poll()).toBe(3);
    const left = await finishOutputs(o, 500);
    expect(left.find((l) => l.name === 'webhook-0')).toMatchObject({ queued: 3 });
    expect(hookPg.received.length).toBe(before);
    expect(await pgStore.outputPositions('webhook-0')).toEqual(new Map([['demo', last]]));
    // the receiver is back; a restart pushes the three, once, and saves the new position
    hookStatus = 204;
    o = await start();
    expect(await o.poll()).toBe(3);
    expect(await finishOutputs(o, 10_000)).toEqual([]);
    const after = events(hookPg.received.slice(before));
    const fresh = await pgStore.listAlertChanges('demo', { afterSeq: last, limit: 1000 });
    expect(fresh.map((a) => [a.id, a.status])).toEqual(ids.map((id) => [id, 'acknowledged']));
    expect(after.map((e) => e.metadata.uid)).toEqual(fresh.map((a) => `${a.id}:${a.seq}`));
    expect(await pgStore.outputPositions('webhook-0')).toEqual(new Map([['demo', fresh[2]!.seq]]));
    // syslog took them the first time (rsyslog was up): not again
    await waitFor(() => rsyslog.lines('tcp').length >= log.length + 3, 10_000, 'rsyslog to write the three changes');
    await new Promise((r) => setTimeout(r, 500));
    expect(rsyslog.lines('tcp').map((l) => /externalId=(\S+)/.exec(l)?.[1])).toEqual([...log.map((a) => a.id), ...ids]);
  });
});
