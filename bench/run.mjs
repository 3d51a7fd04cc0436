// npm run bench — llmtap's throughput on the generated benchmark capture, per pipeline depth,
// with the file-read floor (C) and peers in the same run where they are installed.
//   BENCH_SIZE=1G (default) | 50M     BENCH_RUNS=3     BENCH_PEERS=1 (also tshark, slow)
//   BENCH_PAIRS=5 (alternating flow/full passes for the paired dissect cost; 0 skips it)
//   BENCH_PARTS=2 (rounds of bench/parts.mjs: each dissect part's cost alone; 0 skips it)
//   BENCH_CHURN=1 (bench/churn.mjs: SYN scans of 200k and 2M new flows through llmtap replay; 0 skips it)
//   BENCH_REPLAY_WORKERS=1 (bench/replay-workers.mjs: the whole llmtap replay with --workers 1 and 2; 0 skips it)
//   BENCH_LIVE_WORKERS=1 (bench/capture-workers.mjs: tcpreplay at top speed into a veth pair, 1 and 2
//     capture workers in one fanout group, drops per worker; needs root and tcpreplay; 0 skips it)
// Writes bench/out/results.md and prints the same table.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const shared = process.env.LLMTAP_SHARED ?? resolve(root, '..', 'shared');
const out = join(here, 'out');
mkdirSync(out, { recursive: true });
if (!existsSync(join(root, 'dist', 'pipeline.js'))) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });

const size = process.env.BENCH_SIZE ?? '1G';
const runs = Number(process.env.BENCH_RUNS ?? 3);
const cap = join(out, `bench-${size.toLowerCase()}.pcap`);
if (!existsSync(cap)) {
  console.error(`generating ${cap} …`);
  execFileSync('bash', [join(shared, 'bench', 'make-bench-pcap.sh'), cap, size], { stdio: 'inherit' });
}

const rows = [];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
function timeCmd(cmd, args, env = process.env) {
  const ts = [];
  let rss = 0;
  for (let i = 0; i < runs + 1; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 26, env });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) return undefined;
    const m = /(\d+)\s*$/.exec(r.stderr.trim());
    if (m) rss = Math.max(rss, Number(m[1]) / 1024);
    if (i > 0) ts.push(s); // first run warms the page cache
  }
  return { seconds: median(ts), rssMB: rss };
}

// llmtap depths, each in its own process; the median of `runs` by in-process time
for (const depth of ['walk', 'flow', 'full', 'pipeline']) {
  const res = [];
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, [join(here, 'depth.mjs'), cap, depth], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) { console.error(`depth ${depth} failed:\n${r.stderr}`); break; }
    res.push(JSON.parse(r.stdout.trim().split('\n').pop()));
  }
  if (res.length === 0) continue;
  res.sort((a, b) => a.seconds - b.seconds);
  const m = res[Math.floor(res.length / 2)];
  rows.push({ name: `llmtap ${depth}`, ...m });
}

// peers: the C record-walk floor, tcpdump, ndpiReader / tshark when installed
const have = (c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0;
const packets = rows[0]?.packets ?? 0;
const capBytes = rows[0]?.capBytes ?? 0;
const peer = (name, cmd, args, env) => {
  const t = timeCmd(cmd, args, env);
  if (t) rows.push({ name, packets, capBytes, seconds: t.seconds, pps: packets / t.seconds, mbps: capBytes / t.seconds / 1e6, rssMB: t.rssMB, wholeProcess: true });
};
if (have('cc') && existsSync('/usr/bin/time')) {
  const bin = join(out, 'pcapwalk');
  if (!existsSync(bin)) execFileSync('cc', ['-O2', '-o', bin, join(shared, 'bench', 'peers', 'pcapwalk.c')]);
  peer('pcapwalk (C floor)', bin, [cap]);
}
if (existsSync('/usr/bin/time') && have('tcpdump')) peer('tcpdump -w /dev/null', 'tcpdump', ['-nr', cap, '-w', '/dev/null']);
// the naive Node.js design (npm pcap-parser, one event and Buffer slice per packet; IPv4/TCP
// only, no reassembly): why llmtap reads capture files with its own code
const naive = join(shared, 'bench', 'peers', 'naive-pcap-parser.cjs');
if (existsSync('/usr/bin/time') && existsSync(naive) && existsSync(join(root, 'node_modules', 'pcap-parser'))) {
  peer('node + pcap-parser (naive)', process.execPath, [naive, cap], { ...process.env, NODE_PATH: join(root, 'node_modules') });
}
if (existsSync('/usr/bin/time') && have('ndpiReader')) peer('ndpiReader -e 0', 'ndpiReader', ['-i', cap, '-q', '-e', '0']);
// the whole `llmtap replay` with 1 and 2 packet workers, alternating in one run (bench/replay-workers.mjs)
let replayWorkers;
if (process.env.BENCH_REPLAY_WORKERS !== '0') {
  const r = spawnSync(process.execPath, [join(here, 'replay-workers.mjs'), cap, String(runs), '1,2'], { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, BENCH_REPLAY_PEERS: '0' } });
  if (r.status === 0) {
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    replayWorkers = lines.pop();
    for (const o of lines) {
      rows.push({ name: `llmtap replay --workers ${o.workers}`, packets: o.packets, capBytes, seconds: o.seconds, pps: o.pps, mbps: capBytes / o.seconds / 1e6, rssMB: o.rssMB, wholeProcess: true, cpuS: o.cpuS, ...(o.busyPct ? { busyPct: o.busyPct.join('/') } : {}) });
    }
  } else {
    replayWorkers = { error: r.stderr.trim().split('\n').pop() };
  }
}
if (process.env.BENCH_PEERS === '1' && have('tshark')) peer('tshark -z conv', 'tshark', ['-n', '-q', '-r', cap, '-z', 'conv,tcp', '-z', 'conv,udp']);

// stage micro-benchmarks from the stages' own bench modules
const extras = [];
for (const [mod, fn] of [['classify.mjs', 'benchClassify'], ['attribute.mjs', 'benchAttribute']]) {
  if (!existsSync(join(here, mod))) continue;
  try {
    const m = await import(join(here, mod));
    if (typeof m[fn] === 'function') extras.push({ name: fn, result: await m[fn]() });
  } catch (err) { extras.push({ name: fn, error: String(err?.message ?? err) }); }
}

const f = (x, d = 2) => Number(x).toFixed(d);
let md = `# llmtap benchmark — ${cap.split('/').pop()} (${packets.toLocaleString('en-US')} packets, ${f(capBytes / 1e9, 3)} GB of frames)\n\n`;
md += `node ${process.version}, ${runs} runs each (median), load before: ${execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ')}\n\n`;
md += '| what | seconds | Mpps | MB/s | peak RSS MB | notes |\n|---|---:|---:|---:|---:|---|\n';
for (const r of rows) {
  const notes = Object.entries(r).filter(([k]) => !['name', 'depth', 'packets', 'capBytes', 'seconds', 'pps', 'mbps', 'rssMB', 'wholeProcess'].includes(k)).map(([k, v]) => `${k}=${v}`).join(' ');
  md += `| ${r.name} | ${f(r.seconds, 3)} | ${f(r.pps / 1e6)} | ${f(r.mbps, 0)} | ${f(r.rssMB, 0)} | ${r.wholeProcess ? 'whole process ' : ''}${notes} |\n`;
}
if (replayWorkers !== undefined) {
  if (replayWorkers.error !== undefined) md += `\nreplay workers measurement failed: ${replayWorkers.error}\n`;
  else {
    const ndpi = rows.find((r) => r.name === 'ndpiReader -e 0');
    const w2 = rows.find((r) => r.name === 'llmtap replay --workers 2');
    md += `\nwhole replay, 2 workers against 1 (same run): ${f(replayWorkers.speedup['2'])}x; same flows and alerts: ${replayWorkers.sameFlowsAndAlerts}`;
    md += ndpi && w2 ? `; 2 workers against ndpiReader -e 0: ${f(w2.pps / ndpi.pps)}x its packets/s\n` : '\n';
  }
}
const flow = rows.find((r) => r.name === 'llmtap flow');
const full = rows.find((r) => r.name === 'llmtap full');
if (flow && full) md += `\ndissect + names cost, cold (one pass per process, medians above): ${f(100 * (1 - full.pps / flow.pps), 1)} % of read+decode+flow throughput\n`;
// the same cost measured in one process, flow and full passes alternating (bench/pair.mjs)
const pairs = Number(process.env.BENCH_PAIRS ?? 5);
if (pairs > 0) {
  const r = spawnSync(process.execPath, [join(here, 'pair.mjs'), cap, String(pairs)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status === 0) {
    const p = JSON.parse(r.stdout.trim().split('\n').pop());
    md += `dissect + names cost, warm (${p.pairs} alternating flow/full pairs in one process): ${f(p.costPct.median, 1)} % (${f(p.costPct.min, 1)}–${f(p.costPct.max, 1)}); full path ${f(p.fullMpps)} Mpps, read+decode+flow ${f(p.flowMpps)} Mpps\n`;
  } else {
    md += `paired measurement failed: ${r.stderr.trim().split('\n').pop()}\n`;
  }
}
// each part of dissect + names on its own, between flow passes (bench/parts.mjs)
const partRounds = Number(process.env.BENCH_PARTS ?? 2);
if (partRounds > 0) {
  const r = spawnSync(process.execPath, [join(here, 'parts.mjs'), cap, String(partRounds)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status === 0) {
    const p = JSON.parse(r.stdout.trim().split('\n').pop());
    const each = Object.entries(p.parts).map(([k, v]) => `${k} +${v.ms} ms (${f(v.costPct, 1)} %)`).join(', ');
    md += `each part alone, warm (${p.rounds} rounds, against a ${p.flowMs} ms read+decode+flow pass): ${each}\n`;
  } else {
    md += `parts measurement failed: ${r.stderr.trim().split('\n').pop()}\n`;
  }
}
for (const e of extras) md += `\n${e.name}: ${JSON.stringify(e.result ?? e.error)}\n`;
// churn: every packet a new flow (bench/churn.mjs), whole replay processes
if (process.env.BENCH_CHURN !== '0') {
  const r = spawnSync(process.execPath, [join(here, 'churn.mjs')], { encoding: 'utf8', maxBuffer: 1 << 26 });
  md += r.status === 0 ? `\n${r.stdout}` : `\nchurn measurement failed: ${r.stderr.trim().split('\n').pop()}\n`;
}
// live capture with 1 and 2 workers sharing a veth by flow (bench/capture-workers.mjs)
if (process.env.BENCH_LIVE_WORKERS !== '0' && process.getuid?.() === 0 && have('tcpreplay')) {
  const r = spawnSync(process.execPath, [join(here, 'capture-workers.mjs')], { encoding: 'utf8', maxBuffer: 1 << 26 });
  md += r.status === 0 ? `\nlive capture workers: ${r.stdout}` : `\nlive capture workers failed: ${r.stderr.trim().split('\n').pop()}\n`;
}
writeFileSync(join(out, 'results.md'), md);
process.stdout.write(md);
