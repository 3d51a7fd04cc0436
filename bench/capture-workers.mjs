#!/usr/bin/env node
// Live capture with several workers sharing one interface by flow (PACKET_FANOUT, hash mode with
// IPv4 defragmentation): tcpreplay of the generated 50M benchmark capture at --topspeed into a
// veth pair inside a private network namespace, captured by 1, then 2 worker threads of one
// process. Each worker owns its own capture socket in the group and runs the per-packet path
// (decode → flow → dissect, the sensor's default config) on what its socket delivers; packets
// never pass through the main thread. For each worker count: what tcpreplay sent, and per
// worker what it delivered, its kernel counters (its own socket's), flows and busy ratio.
//
//   node bench/capture-workers.mjs [--workers 1,2] [--loops 3] [--ring-mb 32] [--pcap FILE] [--sensor] [--json]   (root: creates a namespace)
//
// --sensor: the whole sensor instead (`llmtap run --workers N --no-api`, default config, a
// throwaway database): the workers, their time-ordered merge and names → join → classify →
// detect → store on the main thread; per-worker numbers from its `stopped` log line.
//
// A benchmark, not a test: the numbers depend on the machine and its load.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { benchPcap, makeNs, replay } from './capture.mjs';
import { startInNs } from './ns-process.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dist = (p) => pathToFileURL(resolve(here, '..', 'dist', p)).href;

// ───────────── worker thread: one socket in the group + the per-packet path ─────────────
async function worker({ iface, group, ringBytes }) {
  const { LiveSource } = await import(dist('source/live.js'));
  const { PacketPath } = await import(dist('pipeline.js'));
  const { Dissector, dissectOptionsFrom } = await import(dist('dissect/index.js'));
  const { flowTableOptionsFrom } = await import(dist('flow/table.js'));
  const { configFromObject } = await import(dist('config.js'));
  const cfg = configFromObject({});
  let flows = 0;
  let dnsAnswers = 0;
  let busyMs = 0;
  const dissector = new Dissector(dissectOptionsFrom(cfg.dissect, false), { onDns: () => { dnsAnswers++; } });
  const pp = new PacketPath(flowTableOptionsFrom(cfg.flow), { dissector, onFlow: () => { flows++; } });
  const src = LiveSource.open({ iface, snaplen: 65535, promisc: true, bufferBytes: ringBytes, batchPackets: 1024,
    timeoutMs: 20, backend: 'native', fanoutGroup: group });
  const t0 = performance.now();
  src.start((b) => {
    const s = performance.now();
    pp.onBatch(b);
    busyMs += performance.now() - s;
  });
  parentPort.postMessage({ t: 'ready' });
  parentPort.on('message', async () => {
    await src.close();
    pp.finish();
    const st = src.stats();
    parentPort.postMessage({ t: 'done', delivered: st.packets, kernelReceived: st.kernelReceived, kernelDropped: st.kernelDropped,
      flows, dnsAnswers, busyRatio: busyMs / (performance.now() - t0) });
    parentPort.close();
  });
}

// ───────────── child process (inside the namespace): N workers until SIGTERM ─────────────
async function child(n, iface, group, ringBytes) {
  const workers = [];
  for (let i = 0; i < n; i++) {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { iface, group, ringBytes } });
    const ready = new Promise((res, rej) => {
      w.once('error', rej);
      w.once('message', res);
    });
    workers.push({ w, ready });
  }
  await Promise.all(workers.map((x) => x.ready));
  process.stdout.write('ready\n');
  process.on('SIGTERM', async () => {
    const res = await Promise.all(workers.map(({ w }) => new Promise((r) => {
      w.on('message', (m) => { if (m.t === 'done') r(m); });
      w.postMessage('stop');
    })));
    process.stdout.write(`${JSON.stringify(res)}\n`);
    process.exit(0);
  });
}

async function startChild(env, n, group, ringBytes) {
  const c = await startInNs(env.ns, [process.execPath, fileURLToPath(import.meta.url), '--child', String(n), env.a, String(group), String(ringBytes)],
    { what: 'child', isReady: (out) => out.includes('ready\n') });
  return {
    stop: async () => {
      const { out, err } = await c.stop();
      const line = out.split('\n').find((l) => l.startsWith('['));
      if (!line) throw new Error(`child gave no result: ${err.slice(-500)}`);
      return JSON.parse(line);
    },
  };
}

/** `llmtap run --workers n` in the namespace until stop(); per-worker stats from its `stopped` line. */
async function startSensor(env, n, ringBytes) {
  const dir = mkdtempSync(join(tmpdir(), 'llmtap-bench-run-'));
  const cfg = join(dir, 'cfg.json');
  writeFileSync(cfg, JSON.stringify({ capture: { buffer_bytes: ringBytes }, log: { level: 'info' } }));
  const c = await startInNs(env.ns, [process.execPath, resolve(here, '..', 'bin', 'llmtap.js'), 'run', '--iface', env.a,
    '--workers', String(n), '--no-api', '--config', cfg, '--db', join(dir, 'db.sqlite')],
  { what: 'sensor', isReady: (_out, err) => err.includes('"capturing"'), pollMs: 50 }).catch((e) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  return {
    stop: async () => {
      const { err } = await c.stop();
      rmSync(dir, { recursive: true, force: true });
      const line = err.split('\n').find((l) => l.includes('"stopped"'));
      if (!line) throw new Error(`sensor gave no stopped line: ${err.slice(-500)}`);
      const j = JSON.parse(line);
      const ws = j.workers ?? [{ packets: j.capture.packets, kernelReceived: j.capture.kernelReceived, kernelDropped: j.capture.kernelDropped, busyRatio: NaN }];
      return ws.map((w) => ({ delivered: w.packets, kernelReceived: w.kernelReceived, kernelDropped: w.kernelDropped, flows: NaN, dnsAnswers: NaN, busyRatio: w.busyRatio }));
    },
  };
}

export async function benchCaptureWorkers(opts = {}) {
  const counts = opts.workers ?? [1, 2];
  const loops = opts.loops ?? 3;
  const ringBytes = (opts.ringMb ?? 32) * 1024 * 1024;
  const file = opts.pcap ?? benchPcap();
  const env = makeNs();
  const rows = [];
  try {
    let group = 7000;
    for (const n of counts) {
      const c = opts.sensor ? await startSensor(env, n, ringBytes) : await startChild(env, n, ++group, ringBytes);
      const s = replay(env, file, 'topspeed', loops);
      await new Promise((r) => setTimeout(r, 1000));
      const w = await c.stop();
      const received = w.reduce((a, x) => a + x.kernelReceived, 0);
      const dropped = w.reduce((a, x) => a + x.kernelDropped, 0);
      rows.push({ workers: n, ...s, received, dropped, perWorker: w });
    }
  } finally {
    env.destroy();
  }
  return { file, loops, ringBytes, sensor: opts.sensor === true, rows };
}

const cell = (x, f = (v) => v) => (Number.isFinite(x) ? f(x) : '—');

function table(res) {
  const lines = ['| workers | sent pkts | sent kpps | worker | delivered | kernel recv | kernel drop | drop % | flows | DNS answers | busy |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const r of res.rows) {
    r.perWorker.forEach((w, i) => {
      lines.push(`| ${r.workers} | ${i === 0 ? r.sent : ''} | ${i === 0 && r.pps ? (r.pps / 1000).toFixed(1) : ''} | ${i} | ${w.delivered} | ${w.kernelReceived} | ${w.kernelDropped} | ${(100 * w.kernelDropped / Math.max(1, w.kernelReceived)).toFixed(1)} | ${cell(w.flows)} | ${cell(w.dnsAnswers)} | ${cell(w.busyRatio, (v) => `${(100 * v).toFixed(0)} %`)} |`);
    });
    lines.push(`| ${r.workers} | | | all | ${r.perWorker.reduce((a, w) => a + w.delivered, 0)} | ${r.received} | ${r.dropped} | ${(100 * r.dropped / Math.max(1, r.received)).toFixed(1)} | | | |`);
  }
  return lines.join('\n');
}

const argv = process.argv.slice(2);
if (!isMainThread) {
  await worker(workerData);
} else if (argv[0] === '--child') {
  await child(Number(argv[1]), argv[2], Number(argv[3]), Number(argv[4]));
} else if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opt = (k) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined; };
  const res = await benchCaptureWorkers({
    ...(opt('--workers') ? { workers: opt('--workers').split(',').map(Number) } : {}),
    ...(opt('--loops') ? { loops: Number(opt('--loops')) } : {}),
    ...(opt('--ring-mb') ? { ringMb: Number(opt('--ring-mb')) } : {}),
    ...(opt('--pcap') ? { pcap: opt('--pcap') } : {}),
    ...(argv.includes('--sensor') ? { sensor: true } : {}),
  });
  process.stdout.write(argv.includes('--json') ? `${JSON.stringify(res, null, 2)}\n`
    : `tcpreplay --topspeed of ${res.file} ×${res.loops} into a veth pair; ${res.ringBytes / 1048576} MiB kernel ring per worker; ${res.sensor ? 'whole sensor (llmtap run --workers N)' : 'worker threads running the packet path'}\n\n${table(res)}\n`);
}
