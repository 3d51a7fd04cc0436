// Median of N runs of one depth, each in its own process, with CPU and wall time.
//   node bench/median.mjs FILE DEPTH [RUNS=3]
// Prints one line per run and the median (by wall seconds) as JSON.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';

const here = dirname(fileURLToPath(import.meta.url));
const [file, depth, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 3);
const res = [];
for (let i = 0; i < runs; i++) {
  const r = spawnSync(process.execPath, [join(here, 'depth.mjs'), file, depth], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) { console.error(r.stderr); process.exit(1); }
  const j = JSON.parse(r.stdout.trim().split('\n').pop());
  res.push(j);
  console.error(`run ${i + 1}: ${j.seconds.toFixed(3)} s wall, ${j.cpuSeconds.toFixed(3)} s cpu, ${(j.pps / 1e6).toFixed(3)} Mpps, load ${loadavg()[0].toFixed(2)}`);
}
res.sort((a, b) => a.seconds - b.seconds);
const m = res[Math.floor(res.length / 2)];
const cpus = res.map((r) => r.cpuSeconds).sort((a, b) => a - b);
console.log(JSON.stringify({ ...m, mpps: +(m.pps / 1e6).toFixed(3), cpuMedian: cpus[Math.floor(cpus.length / 2)] }));
