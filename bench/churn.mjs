// Churn: SYN scans with DNS answers mixed in (every packet a new flow), 200k and 2M distinct
// flows, each through the whole `llmtap replay` process with the default configuration. Prints
// time, new flows/s and peak RSS per size and the 2M/200k ratios against the targets (time at
// most 12x, peak RSS at most 1.3x, at least 300k new flows/s). The captures are generated
// (bench/scan-pcap.mjs) into bench/out/, never committed.
//   node bench/churn.mjs [SIZES=200000,2000000] [RUNS=1]
// Writes bench/out/churn.json; `npm run bench` runs it (BENCH_CHURN=0 skips it).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeScanPcap } from './scan-pcap.mjs';
import { launcherFlags as launcherFlagsOf } from './launcher.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const out = join(here, 'out');
mkdirSync(out, { recursive: true });

const sizes = (process.argv[2] ?? '200000,2000000').split(',').map(Number);
const runs = Number(process.argv[3] ?? 1);
const preload = join(root, 'test', 'helpers', 'maxrss-preload.cjs');
// the launcher's node flags: the replay runs as an installed `llmtap` does
const launcherFlags = launcherFlagsOf(root);

function once(pcap) {
  const db = join(out, `churn-${process.pid}.db`);
  const rss = join(out, `churn-${process.pid}.maxrss`);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [...launcherFlags, '--require', preload, join(root, 'bin', 'llmtap.js'), 'replay', '--db', db, '--format', 'json', '--no-progress', pcap], {
    encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, LLMTAP_TEST_MAXRSS_FILE: rss },
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  if (r.status !== 0) throw new Error(`replay of ${pcap} failed (${r.status}): ${r.stderr.trim().split('\n').pop()}`);
  const summary = JSON.parse(r.stdout);
  const rssMB = Number(readFileSync(rss, 'utf8')) / 1024;
  rmSync(rss, { force: true });
  // wallS: the replay's own time (reading, the pipeline, settling); seconds: the whole process
  return { seconds, replayS: summary.wallS, flows: summary.flows, rssMB };
}

const results = [];
for (const n of sizes) {
  const pcap = join(out, `scan-${n}.pcap`);
  if (!existsSync(pcap)) writeScanPcap(pcap, n, { dnsEvery: 8, pps: 100_000 });
  const rs = [];
  for (let i = 0; i < runs; i++) rs.push(once(pcap));
  rs.sort((a, b) => a.seconds - b.seconds);
  const m = rs[Math.floor(rs.length / 2)];
  if (m.flows !== n) throw new Error(`scan of ${n} flows gave ${m.flows} flow records`);
  results.push({ flows: n, seconds: m.seconds, replayS: m.replayS, flowsPerS: n / m.seconds, replayFlowsPerS: n / m.replayS, peakRssMB: m.rssMB, runs });
}

const f = (x, d = 2) => Number(x).toFixed(d);
let md = `churn (SYN scan + DNS answers, whole \`llmtap replay\` with the launcher's flags ${launcherFlags.join(' ')}, default config; load before: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})\n\n`;
md += '| distinct flows | seconds (process) | new flows/s | replay only: seconds, flows/s | peak RSS MB |\n|---:|---:|---:|---:|---:|\n';
for (const r of results) md += `| ${r.flows.toLocaleString('en-US')} | ${f(r.seconds)} | ${Math.round(r.flowsPerS).toLocaleString('en-US')} | ${f(r.replayS)}, ${Math.round(r.replayFlowsPerS).toLocaleString('en-US')} | ${f(r.peakRssMB, 0)} |\n`;
const small = results[0];
const large = results[results.length - 1];
let ratios;
if (results.length >= 2) {
  ratios = { time: large.seconds / small.seconds, rss: large.peakRssMB / small.peakRssMB, work: large.flows / small.flows };
  const ok = (c) => (c ? 'met' : 'NOT met');
  md += `\n${large.flows.toLocaleString('en-US')} / ${small.flows.toLocaleString('en-US')}: time ${f(ratios.time)}x for ${f(ratios.work, 0)}x the flows (target ≤ 12x: ${ok(ratios.time <= 12)}), `;
  md += `peak RSS ${f(ratios.rss)}x (target ≤ 1.3x: ${ok(ratios.rss <= 1.3)}), `;
  md += `${Math.round(large.flowsPerS).toLocaleString('en-US')} new flows/s (target ≥ 300,000: ${ok(large.flowsPerS >= 300_000)})\n`;
}
writeFileSync(join(out, 'churn.json'), `${JSON.stringify({ results, ratios }, null, 2)}\n`);
process.stdout.write(md);
