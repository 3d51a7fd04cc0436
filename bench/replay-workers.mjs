// The whole `llmtap replay` of a capture with --workers 1 and --workers 2 (and more when given),
// each in its own process, alternating, a fresh database each run; wall time, CPU time of all
// threads, peak RSS, and the load average when each run ended (the machine may be shared).
// Beside it, alternating with the same runs: the C record-walk floor and ndpiReader -e 0 when
// installed (BENCH_REPLAY_PEERS=0 leaves them out: bench/run.mjs measures them itself).
//   node bench/replay-workers.mjs CAPTURE [RUNS=3] [WORKERS=1,2]
// Prints one JSON line per worker count (median of the runs), one per peer, then a summary line.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const [cap, runsArg = '3', workersArg = '1,2'] = process.argv.slice(2);
const runs = Number(runsArg);
const counts = workersArg.split(',').map(Number);
const dir = mkdtempSync(join(tmpdir(), 'llmtap-replay-workers-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function once(n) {
  const db = join(dir, `w${n}.db`);
  for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', process.execPath, join(root, 'bin', 'llmtap.js'), 'replay', cap, '--db', db, '--workers', String(n), '--format', 'json'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`replay --workers ${n} failed: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
  const [u, s, kb] = r.stderr.trim().split('\n').pop().split(/\s+/).map(Number);
  const sum = JSON.parse(r.stdout);
  return { wall, cpu: u + s, load: loadavg()[0], rssMB: kb / 1024, packets: sum.packets, flows: sum.flows, alerts: sum.alerts.length, workers: sum.workers };
}

// peers: the C record-walk floor (built from the shared bench sources) and ndpiReader -e 0
const shared = process.env.LLMTAP_SHARED ?? resolve(root, '..', 'shared');
const have = (c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0;
const peers = [];
if (process.env.BENCH_REPLAY_PEERS !== '0') {
  const walk = join(shared, 'bench', 'peers', 'pcapwalk.c');
  if (have('cc') && existsSync(walk)) {
    const out = join(here, 'out');
    mkdirSync(out, { recursive: true });
    const bin = join(out, 'pcapwalk');
    if (!existsSync(bin)) execFileSync('cc', ['-O2', '-o', bin, walk]);
    peers.push({ name: 'pcapwalk (C floor)', cmd: bin, args: [cap] });
  }
  if (have('ndpiReader')) peers.push({ name: 'ndpiReader -e 0', cmd: 'ndpiReader', args: ['-i', cap, '-q', '-e', '0'] });
}
function peerOnce(p) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', p.cmd, ...p.args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${p.name} failed: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
  const [u, s, kb] = r.stderr.trim().split('\n').pop().split(/\s+/).map(Number);
  return { wall, cpu: u + s, load: loadavg()[0], rssMB: kb / 1024 };
}

const res = new Map(counts.map((n) => [n, []]));
const peerRes = new Map(peers.map((p) => [p.name, []]));
once(counts[0]); // warms the page cache
for (let i = 0; i < runs; i++) {
  for (const n of counts) res.get(n).push(once(n));
  for (const p of peers) peerRes.get(p.name).push(peerOnce(p));
}
rmSync(dir, { recursive: true, force: true });
const out = [];
for (const n of counts) {
  const rs = res.get(n);
  const wall = median(rs.map((r) => r.wall));
  const r0 = rs[0];
  const busy = r0.workers?.map((w) => Math.round((100 * w.busyMs) / Math.max(1, w.busyMs + w.idleMs)));
  out.push({ workers: n, seconds: wall, pps: r0.packets / wall, cpuS: median(rs.map((r) => r.cpu)), rssMB: Math.max(...rs.map((r) => r.rssMB)), packets: r0.packets, flows: r0.flows, alerts: r0.alerts, busyPct: busy, runs: rs.map((r) => [Number(r.wall.toFixed(2)), Number(r.cpu.toFixed(2)), Number(r.load.toFixed(1))]) });
}
for (const o of out) console.log(JSON.stringify(o));
const packets = out[0]?.packets ?? 0;
const peerOut = peers.map((p) => {
  const rs = peerRes.get(p.name);
  const wall = median(rs.map((r) => r.wall));
  return { peer: p.name, seconds: wall, pps: packets / wall, cpuS: median(rs.map((r) => r.cpu)), rssMB: Math.max(...rs.map((r) => r.rssMB)), runs: rs.map((r) => [Number(r.wall.toFixed(2)), Number(r.cpu.toFixed(2)), Number(r.load.toFixed(1))]) };
});
for (const o of peerOut) console.log(JSON.stringify(o));
const one = out.find((o) => o.workers === 1);
const same = out.every((o) => o.flows === one?.flows && o.alerts === one?.alerts && o.packets === one?.packets);
const ndpi = peerOut.find((o) => o.peer === 'ndpiReader -e 0');
console.log(JSON.stringify({
  speedup: Object.fromEntries(out.map((o) => [o.workers, one ? Number((one.seconds / o.seconds).toFixed(2)) : null])),
  ...(ndpi !== undefined ? { vsNdpiReader: Object.fromEntries(out.map((o) => [o.workers, Number((o.pps / ndpi.pps).toFixed(2))])) } : {}),
  sameFlowsAndAlerts: same,
  // runs: [wall s, CPU s, 1-minute load average] each
}));
