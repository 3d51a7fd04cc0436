#!/usr/bin/env node
// Live soak: `llmtap run` on one end of a veth pair inside a private network namespace while
// tcpreplay loops a churning mix onto the other end — a SYN scan with DNS answers mixed in
// (bench/scan-pcap.mjs: every packet a new flow) followed by the demo capture (pcaps/demo: TLS
// and QUIC to AI services, DNS), with --unique-ip so every loop brings new addresses, hence new
// flows. The sensor's RSS is sampled every --sample-s seconds; after --warmup-s the report gives
// min/max/median, whether every sample stayed within ±10 % of the median (flat), and the medians
// of the first and second half (a trend, which the heap's sawtooth is not). It reports
// what tcpreplay really sent (packets/s), what the sensor captured and the kernel's drops.
//
//   node bench/soak.mjs [--duration-s 1800] [--pps 120000|topspeed] [--warmup-s 300] [--sample-s 10]
//                       [--scan-flows 100000] [--json OUT.json]          (root: creates a namespace)
//
// Not part of `npm test`. It stops by itself: tcpreplay runs for --duration-s (its own
// --duration), the sensor gets SIGTERM after it, and everything is killed and the namespace
// deleted if anything hangs (a guard of duration + 120 s).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { writeScanPcap } from './scan-pcap.mjs';
import { launcherFlags } from './launcher.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');

const { values } = parseArgs({
  options: {
    'duration-s': { type: 'string', default: '1800' },
    pps: { type: 'string', default: '120000' },
    'warmup-s': { type: 'string', default: '300' },
    'sample-s': { type: 'string', default: '10' },
    'scan-flows': { type: 'string', default: '100000' },
    json: { type: 'string' },
  },
});
const durationS = Number(values['duration-s']);
const pps = values.pps === 'topspeed' ? Infinity : Number(values.pps);
const warmupS = Number(values['warmup-s']);
const sampleS = Number(values['sample-s']);
const scanFlows = Number(values['scan-flows']);
if (![durationS, warmupS, sampleS, scanFlows].every((n) => Number.isFinite(n) && n > 0) || !(pps > 0) || warmupS >= durationS) {
  process.stderr.write('soak: durations, rate and flows must be positive numbers, warm-up shorter than the duration\n');
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  process.stderr.write('soak: needs root (creates a network namespace)\n');
  process.exit(2);
}

const log = (msg) => process.stderr.write(`soak: ${msg}\n`);
const work = mkdtempSync(join(tmpdir(), 'llmtap-soak-'));
const tag = `sk${randomBytes(3).toString('hex')}`;
const ns = `${tag}ns`;
const capIf = `${tag}a`;
const peerIf = `${tag}b`;
const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

// ───────────── the mix ─────────────
const mix = join(work, 'mix.pcap');
const scan = writeScanPcap(join(work, 'scan.pcap'), scanFlows, { dnsEvery: 8, pps: Number.isFinite(pps) ? pps : 100_000 });
const demo = gunzipSync(readFileSync(join(repo, 'pcaps', 'demo', 'demo.pcap.gz')));
if (demo.readUInt32LE(0) !== 0xa1b2c3d4 || demo.readUInt32LE(20) !== 1) throw new Error('demo capture: expected a little-endian µs Ethernet pcap');
{
  const fd = openSync(mix, 'w');
  writeSync(fd, readFileSync(join(work, 'scan.pcap')));
  writeSync(fd, demo.subarray(24));
  closeSync(fd);
  rmSync(join(work, 'scan.pcap'));
}
let demoPackets = 0;
for (let off = 24; off + 16 <= demo.length; off += 16 + demo.readUInt32LE(off + 8)) demoPackets++;
const loopPackets = scan.packets + demoPackets;
log(`mix: ${scan.syns} SYNs, ${scan.dnsAnswers} DNS answers, ${demoPackets} demo packets per loop (${loopPackets} packets); ${durationS} s at ${pps} packets/s`);

// ───────────── namespace, sensor, tcpreplay ─────────────
const config = join(work, 'soak.yaml');
const demoCfg = readFileSync(join(repo, 'pcaps', 'demo', 'llmtap.yaml'), 'utf8')
  .replace(/^\s*tenant_dir:.*$/m, `  tenant_dir: ${join(repo, 'pcaps', 'demo', 'rules')}`)
  .replace(/^\s*path: demo\.db.*$/m, `  path: ${join(work, 'soak.db')}`);
writeFileSync(config, demoCfg);

let sensor;
let replay;
let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const p of [replay, sensor]) {
    try {
      if (p && p.exitCode === null) p.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  try {
    ip('netns', 'del', ns);
  } catch {
    // gone
  }
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { cleanup(); process.exit(130); });
const guard = setTimeout(() => { log('guard: still running long after the duration, killing everything'); cleanup(); process.exit(1); }, (durationS + 120) * 1000);
guard.unref();

ip('netns', 'add', ns);
execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1'], { stdio: 'ignore' });
ip('-n', ns, 'link', 'add', capIf, 'mtu', '9000', 'type', 'veth', 'peer', 'name', peerIf, 'mtu', '9000');
for (const l of ['lo', capIf, peerIf]) ip('-n', ns, 'link', 'set', l, 'up');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let sensorErr = '';
let t0 = Date.now();
// overload episodes are counted as they are logged (the log tail kept below is bounded)
const overloadLines = { started: 0, ended: 0, maxLevel: 0, undissected: 0, unanalyzed: 0, first: undefined };
let partial = '';
sensor = spawn('ip', ['netns', 'exec', ns, process.execPath, ...launcherFlags(repo), join(repo, 'bin', 'llmtap.js'), 'run', '--iface', capIf, '--config', config, '--no-api'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
sensor.stderr.on('data', (d) => {
  const text = d.toString();
  sensorErr += text;
  if (sensorErr.length > 1 << 20) sensorErr = sensorErr.slice(-(1 << 19));
  const lines = (partial + text).split('\n');
  partial = lines.pop() ?? '';
  for (const line of lines) {
    if (line.includes('"overload: new flows')) {
      overloadLines.started++;
      try {
        const e = JSON.parse(line);
        overloadLines.first ??= { atS: Math.round((e.time - t0) / 1000), level: e.level, why: e.why, newFlowsPerS: e.newFlowsPerS, lagS: e.lagS };
      } catch {
        // not JSON
      }
    }
    if (!line.includes('"overload over')) continue;
    overloadLines.ended++;
    try {
      const e = JSON.parse(line);
      overloadLines.maxLevel = Math.max(overloadLines.maxLevel, e.maxLevel ?? 0);
      overloadLines.undissected += e.undissected ?? 0;
      overloadLines.unanalyzed += e.unanalyzed ?? 0;
    } catch {
      // not JSON
    }
  }
});
const sensorDone = new Promise((r) => sensor.on('exit', (code) => r(code)));
for (let i = 0; !sensorErr.includes('"capturing"'); i++) {
  if (i > 600 || sensor.exitCode !== null) throw new Error(`sensor did not start: ${sensorErr.slice(-2000)}`);
  await sleep(100);
}

function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

t0 = Date.now();
let replayOut = '';
replay = spawn('ip', ['netns', 'exec', ns, 'tcpreplay', '-i', peerIf, ...(pps === Infinity ? ['--topspeed'] : [`--pps=${pps}`]), '--loop=0', '--unique-ip', '--preload-pcap', `--duration=${durationS}`, '--no-flow-stats', mix],
  { stdio: ['ignore', 'pipe', 'pipe'] });
replay.stdout.on('data', (d) => { replayOut += d.toString(); });
replay.stderr.on('data', (d) => { replayOut += d.toString(); });
const replayDone = new Promise((r) => replay.on('exit', (code) => r(code)));

const samples = [];
let replayCode;
replayDone.then((c) => { replayCode = c; });
while (replayCode === undefined) {
  const mb = rssMb(sensor.pid);
  const atS = Math.round((Date.now() - t0) / 1000);
  if (mb !== undefined) samples.push({ atS, rssMb: Math.round(mb * 10) / 10 });
  if (samples.length % 6 === 0) log(`${atS} s: sensor RSS ${mb?.toFixed(1)} MB`);
  await Promise.race([sleep(sampleS * 1000), replayDone]);
}
const sendS = (Date.now() - t0) / 1000;
await sleep(1000); // the last batch times out in the capture
sensor.kill('SIGTERM');
const sensorCode = await Promise.race([sensorDone, sleep(60_000).then(() => 'timeout')]);

// ───────────── report ─────────────
const sent = /Actual:\s+(\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds/.exec(replayOut);
const rated = /Rated:\s+[\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps/.exec(replayOut);
const failed = /Failed packets:\s+(\d+)/.exec(replayOut);
let stopped;
for (const line of sensorErr.split('\n')) {
  if (!line.includes('"stopped"')) continue;
  try {
    stopped = JSON.parse(line);
  } catch {
    // not a JSON line
  }
}
const after = samples.filter((s) => s.atS >= warmupS).map((s) => s.rssMb);
const medianOf = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length === 0 ? NaN : v.length % 2 === 1 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const median = medianOf(after);
const min = Math.min(...after);
const max = Math.max(...after);
// growth shows as a second half above the first; a garbage-collected heap's sawtooth does not
const half = Math.floor(after.length / 2);
const report = {
  durationS,
  sendS: Math.round(sendS),
  requestedPps: pps,
  loopPackets,
  tcpreplay: {
    exit: replayCode,
    packets: sent ? Number(sent[1]) : undefined,
    bytes: sent ? Number(sent[2]) : undefined,
    seconds: sent ? Number(sent[3]) : undefined,
    pps: rated ? Number(rated[1]) : undefined,
    failed: failed ? Number(failed[1]) : undefined,
  },
  sensor: {
    exit: sensorCode,
    captured: stopped?.capture?.packets,
    kernelReceived: stopped?.capture?.kernelReceived,
    kernelDropped: stopped?.capture?.kernelDropped,
    ifDropped: stopped?.capture?.ifDropped,
    overloadEpisodes: overloadLines,
    overloadAtStop: stopped?.overload,
  },
  rss: {
    warmupS,
    sampleS,
    samples: after.length,
    minMb: min,
    maxMb: max,
    medianMb: median,
    flat: after.length > 0 && min >= 0.9 * median && max <= 1.1 * median,
    firstHalfMedianMb: medianOf(after.slice(0, half)),
    secondHalfMedianMb: medianOf(after.slice(half)),
    series: samples,
  },
};
if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
const { series: _series, ...rssSummary } = report.rss;
process.stdout.write(`${JSON.stringify({ ...report, rss: rssSummary }, null, 2)}\n`);
if (sensorCode !== 0) log(`sensor exited ${sensorCode}: ${sensorErr.slice(-1500)}`);
cleanup();
process.exit(report.rss.flat && sensorCode === 0 ? 0 : 1);
