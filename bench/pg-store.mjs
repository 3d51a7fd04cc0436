// node bench/pg-store.mjs — the fleet hub's store: AI observations (and the alert updates and
// contributions detection makes for a share of them) written through the PostgreSQL store and
// committed with `await commit()` every BATCH writes, as the hub does before acknowledging; the
// SQLite store on the same workload in the same run as the baseline.
//   PG_BENCH_N=50000 (observations)  PG_BENCH_BATCH=500  LLMTAP_PG_URL=postgres://… (else a
//   throwaway PostgreSQL 15 cluster is started on a free loopback port, as the tests do)
// Prints observations/s committed and the commit latency (p50, p99) per store; then, with
// --expose-gc, the hub's memory per alert and per contribution (heap growth of a store opening
// a database of 20,000 alerts, then of 200,000 contributions).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startPostgres } from './postgres.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { PgStore } = await import(join(root, 'dist', 'store', 'pg', 'store.js'));
const { Store } = await import(join(root, 'dist', 'store', 'store.js'));
const N = Number(process.env.PG_BENCH_N ?? 50_000);
const BATCH = Number(process.env.PG_BENCH_BATCH ?? 500);

let cluster;
let url = process.env.LLMTAP_PG_URL;
if (url === undefined) {
  cluster = await startPostgres('llmtap-pgbench-');
  url = cluster.url;
}

const T0 = 1_700_000_000_000_000;
function observation(i) {
  return {
    obsId: `bench-${i}`, tenant: i % 4 === 0 ? 'beta' : 'acme', kind: 'flow', update: false,
    tsUs: T0 + i * 1000, lastTsUs: T0 + i * 1000 + 500, clientAddr: `10.0.${(i >> 8) & 255}.${i & 255}`,
    serverAddr: '162.159.140.245', serverPort: 443, proto: 6, host: 'api.openai.com', hostSource: 'sni', bytesOut: 2048, bytesIn: 8192,
    client: { side: 'orig', deviceId: `dev-${i % 500}`, processName: 'python3', sha256: 'c'.repeat(64), hashUnknown: false, source: 'llmtap', method: 'edr' },
    flow: { flowId: i, communityId: '1:LQU9qZlK+B5F3KDmev6m5PMibrg=' },
    verdict: { category: 'api', provider: 'openai', ruleId: 'openai-api', sanctioned: false },
  };
}
function alert(o, n) {
  return {
    id: `al-${o.tenant}-${o.client.deviceId}`, tenant: o.tenant, heuristic: 'h1', severity: 'high', status: 'open', title: 'bench',
    deviceId: o.client.deviceId, processName: 'python3', provider: 'openai', count: n, firstSeenUs: T0, lastSeenUs: o.tsUs,
    evidence: { flowIds: [o.flow.flowId], communityIds: [], obsIds: [o.obsId], bytesOut: 2048 * n, bytesIn: 8192 * n, detail: {} },
  };
}

/** One run: every observation written; one in ten also updates its device's alert and counts toward it. */
async function run(store, commit) {
  const lat = [];
  const counts = new Map();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const o = observation(i);
    store.insertObservation(o, { h1: i % 10 === 0 });
    if (i % 10 === 0) {
      const a = alert(o, (counts.get(o.client.deviceId) ?? 0) + 1);
      counts.set(o.client.deviceId, a.count);
      store.contribute(a.id, o.obsId, o.tsUs);
      store.upsertAlert(a, `h1|dev:${a.deviceId}|python3|openai`);
    }
    if ((i + 1) % BATCH === 0) {
      const c0 = performance.now();
      await commit();
      lat.push(performance.now() - c0);
    }
  }
  await commit();
  const s = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { perS: Math.round(N / s), p50: lat[Math.floor(lat.length / 2)], p99: lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))] };
}

/** Heap growth of opening a store on a database holding `rows` of one kind, per row. */
async function perRow(fill, rows) {
  const db = `mem_${process.pid}_${rows}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const u = new URL(url);
  u.pathname = `/${db}`;
  await (await PgStore.open(u.toString())).close(); // the schema
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  await fill(c, rows);
  await c.end();
  global.gc();
  const h0 = process.memoryUsage().heapUsed;
  const s = await PgStore.open(u.toString(), { flushIntervalMs: 0 });
  global.gc();
  const bytes = process.memoryUsage().heapUsed - h0;
  await s.close();
  return Math.round(bytes / rows);
}

async function memory() {
  const body = (i) => JSON.stringify({ ...alert(observation(i), 3), id: `al-${i}`, deviceId: `dev-${i}`, confidence: { level: 'medium', score: 55, reasons: [{ signal: 'repeated', weight: 10, note: 'seen 3 times' }] } });
  const alertBytes = await perRow((c, n) => c.query(
    `INSERT INTO alerts (id, tenant, heuristic, severity, status, dedup_key, bin_hash, first_seen_us, last_seen_us, seq, alert_json)
     SELECT 'al-' || i, 'acme', 'h1', 'high', 'open', 'h1|dev:dev-' || i || '|python3|openai', NULL, i, i, i, $2 FROM generate_series(1, $1) AS i`,
    [n, body(1)],
  ), 20_000);
  const contribBytes = await perRow((c, n) => c.query(
    `INSERT INTO contributions (scope, obs_id, ts_us) SELECT 'al_' || md5((i % 5000)::text), 'o' || md5(i::text), i FROM generate_series(1, $1) AS i`,
    [n],
  ), 200_000);
  console.log(`hub memory : ${alertBytes} bytes per alert (a ${body(1).length}-byte JSON body), ${contribBytes} bytes per contribution`);
}

const fmt = (r) => `${r.perS.toLocaleString('en-US')} obs/s, commit of ${BATCH} writes p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms`;
try {
  const dir = mkdtempSync(join(tmpdir(), 'llmtap-sqlbench-'));
  const sq = Store.open(join(dir, 'bench.db'), { flushIntervalMs: 0, batchSize: 1_000_000 });
  const rs = await run(sq, async () => sq.flush());
  sq.close();
  rmSync(dir, { recursive: true, force: true });
  const pg = await PgStore.open(url, { flushIntervalMs: 0, batchSize: 1_000_000 });
  const rp = await run(pg, () => pg.commit());
  await pg.close();
  console.log(`observations: ${N}, commit every ${BATCH} observations (same run, same workload)`);
  console.log(`sqlite     : ${fmt(rs)}`);
  console.log(`postgresql : ${fmt(rp)}`);
  if (typeof global.gc === 'function') await memory();
} finally {
  cluster?.stop();
}
