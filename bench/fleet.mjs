// node bench/fleet.mjs — fleet mode end to end on this machine: a sensor's publisher (the
// real FleetPublisher of dist/) → a three-node nats-server JetStream cluster (replicas 3) →
// `llmtap hub` (a child process) → PostgreSQL 15 (throwaway cluster, fsync on).
//   FLEET_BENCH_N=20000    flow records of the throughput phase (AI flows, all published at once)
//   FLEET_BENCH_PROBES=40  alert probes of the latency phase (paced, one every 250 ms)
//   FLEET_BENCH_REORDER_S=5  the hub's fleet.reorder_s (its hold for cross-sensor ordering)
// Throughput: records/s from the first publish until the hub acknowledged the last one (each
// acknowledged only after its observation went through detection and PostgreSQL committed).
// Latency: a probe is five connections of a new client to api.openai.com without an EDR record
// (the shadow-AI volume rule alerts at the fifth); measured from the fifth flow's end (its
// publish, as a live sensor publishes at flow end) until a SIEM poller sees the alert in
// /v1/alerts (polling every 50 ms). The join holds a flow without EDR partner attribute.hold_s
// of capture time (set to 1 s here; 30 s by default) and the hub holds every record reorder_s.
// Not a timed test: numbers depend on the machine and its load.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort, startPostgres } from './postgres.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { FleetPublisher } = await import(join(root, 'dist', 'fleet', 'publisher.js'));
const { sensorPermissions } = await import(join(root, 'dist', 'fleet', 'subjects.js'));
const { configFromObject } = await import(join(root, 'dist', 'config.js'));
const N = Number(process.env.FLEET_BENCH_N ?? 20_000);
const PROBES = Number(process.env.FLEET_BENCH_PROBES ?? 40);
const REORDER_S = Number(process.env.FLEET_BENCH_REORDER_S ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'llmtap-fleetbench-'));
const children = [];
const cleanup = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
};
process.on('exit', cleanup);

// PostgreSQL (as the postgres user when root)
const postgres = await startPostgres('llmtap-fleetbench-pg-');

// three routed JetStream nodes, one account, the hub and one sensor user
const nodes = [];
for (let i = 0; i < 3; i++) nodes.push({ name: `n${i + 1}`, port: await freePort(), cport: await freePort() });
const perms = sensorPermissions('bench', 's1');
const q = (s) => JSON.stringify(s);
for (const n of nodes) {
  const store = join(dir, n.name);
  mkdirSync(store);
  const conf = join(dir, `${n.name}.conf`);
  writeFileSync(conf, [
    `server_name: ${n.name}`, `listen: 127.0.0.1:${n.port}`,
    `jetstream { store_dir: ${q(store)}, max_memory_store: 64MB, max_file_store: 8GB }`,
    `cluster { name: bench, listen: 127.0.0.1:${n.cport}, routes: [${nodes.filter((o) => o !== n).map((o) => q(`nats://127.0.0.1:${o.cport}`)).join(', ')}] }`,
    `accounts { LLMTAP { jetstream: enabled, users: [ { user: hub, password: hubpw }, { user: s1, password: s1pw, permissions: { publish: { allow: [${perms.publish.allow.map(q).join(', ')}] }, subscribe: { allow: [${perms.subscribe.allow.map(q).join(', ')}] } } } ] }, SYS { users: [ { user: sys, password: syspw } ] } }`,
    'system_account: SYS', '',
  ].join('\n'));
  children.push(spawn('nats-server', ['-c', conf], { stdio: 'ignore' }));
}
const servers = nodes.map((n) => `nats://127.0.0.1:${n.port}`);

// the hub
const apiPort = await freePort();
const token = 'bench-token';
writeFileSync(join(dir, 'hub.pw'), 'hubpw\n');
writeFileSync(join(dir, 's1.pw'), 's1pw\n');
const tenants = [{ id: 'bench', cidrs: ['10.0.0.0/8'], warmup_days: 0 }];
writeFileSync(join(dir, 'hub.json'), JSON.stringify({
  tenants, attribute: { hold_s: 1 },
  store: { url: postgres.url },
  api: { host: '127.0.0.1', port: apiPort, tokens: [{ tenant: 'bench', token_sha256: createHash('sha256').update(token).digest('hex') }] },
  fleet: { servers, user: 'hub', password_file: join(dir, 'hub.pw'), replicas: 3, reorder_s: REORDER_S, max_bytes: 256 * 1024 * 1024 },
  log: { level: 'warn' },
}));
const hub = spawn(process.execPath, [join(root, 'bin', 'llmtap.js'), 'hub', '--config', join(dir, 'hub.json')], { stdio: ['ignore', 'ignore', 'inherit'] });
children.push(hub);
const base = `http://127.0.0.1:${apiPort}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/readyz`)).status === 200) break;
  } catch { /* not yet */ }
  if (i > 600) throw new Error('hub not ready');
  await sleep(100);
}
async function acked() {
  const t = await (await fetch(`${base}/metrics`)).text();
  return Number(/^llmtap_fleet_hub_records_total\{outcome="acked"\} (\d+)$/m.exec(t)?.[1] ?? 0);
}

// the sensor side: the real publisher with a sensor config
const cfg = configFromObject({ tenants, fleet: { servers, user: 's1', password_file: join(dir, 's1.pw'), tenant: 'bench', sensor: 's1', spool_max: 1_000_000 } }, join(dir, 'sensor.json'), dir);
// its capture clock is the wall clock, as a live sensor's (the watermarks the hub merges by)
const pub = new FleetPublisher(cfg, undefined, undefined, () => Date.now() * 1000);
pub.start();
let seq = 0;
function flow(client, nowUs) {
  seq++;
  return {
    flowId: seq, communityId: `1:bench${seq}`, proto: 6, vlan: [], origAddr: client, origPort: 40000 + (seq % 20000), respAddr: '162.159.140.245', respPort: 443,
    origBy: 'syn', origPkts: 9, respPkts: 9, origWireBytes: 1127, respWireBytes: 2937, origCapBytes: 1127, respCapBytes: 2937, origIpBytes: 1001, respIpBytes: 2811,
    origPayloadBytes: 525, respPayloadBytes: 2335, firstTsUs: nowUs - 900_000 + seq, lastTsUs: nowUs, origTcpFlags: 27, respTcpFlags: 27, endReason: 'fin', ifIndex: 0,
    hostSource: 'sni', host: 'api.openai.com', hostAgrees: true,
    handshake: { transport: 'tls', legacyVersion: '0x0303', ja4: 't13d3111h1_e8f1e7e78f70_1f22a2ca17c4', esni: false, hellos: 1, sni: 'api.openai.com', alpn: ['http/1.1'], tlsVersions: ['0x0304', '0x0303'] },
  };
}
const addr = (i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

// throughput: N flows from N/2 clients (two each: below the volume rule's five)
const t0 = Date.now();
for (let i = 0; i < N; i++) pub.offer(flow(addr(1_000 + (i >> 1)), Date.now() * 1000), true);
const published = await pub.drain(600_000);
const tPub = Date.now();
while ((await acked()) < N) await sleep(50);
const tAck = Date.now();
const thr = { records: N, publishS: (tPub - t0) / 1000, endToEndS: (tAck - t0) / 1000, perS: Math.round(N / ((tAck - t0) / 1000)), allPublished: published, reorderS: REORDER_S };

// latency: probes of five flows from a new client; the fifth completes a shadow-volume alert
let cursor;
const seen = new Map();
async function poll() {
  for (;;) {
    const r = await fetch(`${base}/v1/alerts?limit=500${cursor !== undefined ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers: { authorization: `Bearer ${token}` } });
    const b = await r.json();
    for (const a of b.items ?? []) if (a.heuristic === 'shadow_volume' && !seen.has(a.client_addr)) seen.set(a.client_addr, Date.now());
    cursor = b.next_cursor;
    if (!b.has_more) return;
  }
}
await poll();
const sent = new Map();
let polling = true;
const poller = (async () => {
  while (polling) {
    await poll().catch(() => {});
    await sleep(50);
  }
})();
for (let p = 0; p < PROBES; p++) {
  const client = addr(5_000_000 + p);
  for (let k = 0; k < 5; k++) pub.offer(flow(client, Date.now() * 1000), true);
  sent.set(client, Date.now());
  await sleep(250);
}
const deadline = Date.now() + 120_000;
while (seen.size < PROBES && Date.now() < deadline) await sleep(100);
polling = false;
await poller;
const lat = [...sent].filter(([c]) => seen.has(c)).map(([c, t]) => seen.get(c) - t).sort((a, b) => a - b);
const pct = (p) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];

console.log(JSON.stringify({ throughput: thr, latencyMs: { probes: PROBES, alerted: lat.length, p50: pct(50), p99: pct(99), max: lat[lat.length - 1] }, settings: { replicas: 3, holdS: 1, reorderS: REORDER_S, store: 'postgresql 15 (fsync on)' } }, null, 2));
await pub.close();
hub.kill('SIGTERM');
await new Promise((r) => hub.once('exit', r));
cleanup();
postgres.stop();
rmSync(dir, { recursive: true, force: true });
