// The whole `llmtap replay` of a capture with --workers 1 and --workers 2 (and more when given),
// each in its own process, alternating, a fresh database each run; wall time, CPU time of all
// threads, peak RSS. Beside it in one run: the C record-walk floor and ndpiReader -e 0 when
// installed (bench/run.mjs adds them to its table the same way).
//   node bench/replay-workers.mjs CAPTURE [RUNS=3] [WORKERS=1,2]
// Prints one JSON line per worker count (median of the runs), then a summary line.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  return { wall, cpu: u + s, rssMB: kb / 1024, packets: sum.packets, flows: sum.flows, alerts: sum.alerts.length, workers: sum.workers };
}

const res = new Map(counts.map((n) => [n, []]));
once(counts[0]); // warms the page cache
for (let i = 0; i < runs; i++) for (const n of counts) res.get(n).push(once(n));
rmSync(dir, { recursive: true, force: true });
const out = [];
for (const n of counts) {
  const rs = res.get(n);
  const wall = median(rs.map((r) => r.wall));
  const r0 = rs[0];
  const busy = r0.workers?.map((w) => Math.round((100 * w.busyMs) / Math.max(1, w.busyMs + w.idleMs)));
  out.push({ workers: n, seconds: wall, pps: r0.packets / wall, cpuS: median(rs.map((r) => r.cpu)), rssMB: Math.max(...rs.map((r) => r.rssMB)), packets: r0.packets, flows: r0.flows, alerts: r0.alerts, busyPct: busy });
}
for (const o of out) console.log(JSON.stringify(o));
const one = out.find((o) => o.workers === 1);
const same = out.every((o) => o.flows === one?.flows && o.alerts === one?.alerts && o.packets === one?.packets);
console.log(JSON.stringify({ speedup: Object.fromEntries(out.map((o) => [o.workers, one ? Number((one.seconds / o.seconds).toFixed(2)) : null])), sameFlowsAndAlerts: same }));
