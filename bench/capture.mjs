#!/usr/bin/env node
// Capture benchmark: tcpreplay of the generated 50M benchmark capture into a veth pair inside a
// private network namespace, at fixed rates (--mbps) and at --topspeed, captured by llmtap's
// native binding and by the npm `cap` package, side by side in one run. For each rate: what
// tcpreplay sent, what the capture delivered to JavaScript, and the kernel counters (native
// only: `cap` has none, so its losses are only visible as sent - delivered).
//
//   node bench/capture.mjs [--rates 100,200,400,800,topspeed] [--loops 3] [--json]     (root: creates a namespace)
//
// Each capture runs in its own node process inside the namespace (`--child`), doing the
// minimum per batch (native) or per packet (cap): summing lengths.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startInNs } from './ns-process.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const require = createRequire(import.meta.url);

// ───────────── child: capture until SIGTERM, print one JSON line ─────────────
function child(backend, iface) {
  let packets = 0;
  let capBytes = 0;
  let calls = 0;
  let finish;
  if (backend === 'native') {
    const b = require(join(repo, 'native/build/Release/llmtap_capture.node'));
    const h = b.open(iface, 65535, true, 32 << 20, 20, false, null);
    const N = 1024;
    const slots = [];
    for (let i = 0; i < 4; i++) {
      slots.push({ buf: Buffer.alloc(N * 2048), offset: new Uint32Array(N), capLen: new Uint32Array(N),
        wireLen: new Uint32Array(N), tsUs: new Float64Array(N), linkType: new Uint16Array(N), ifIndex: new Uint16Array(N) });
    }
    let closed;
    const done = new Promise((r) => { closed = r; });
    b.start(h, slots, N, (s, n) => {
      calls++;
      packets += n;
      const cl = slots[s].capLen;
      for (let i = 0; i < n; i++) capBytes += cl[i];
    }, () => closed());
    finish = async () => {
      b.close(h);
      await done;
      const k = b.stats(h);
      return { kernelReceived: k.received, kernelDropped: k.dropped, ifDropped: k.ifDropped };
    };
  } else {
    const { Cap } = require('cap');
    const c = new Cap();
    // cap keeps a raw pointer to this buffer: it must stay referenced (globalThis) or the
    // process corrupts its heap on the first packet after a GC.
    const buf = Buffer.alloc(65535);
    globalThis.llmtapCapBuf = buf;
    c.open(iface, '', 32 << 20, buf);
    c.setMinBytes?.(0);
    c.on('packet', (n) => { calls++; packets++; capBytes += n; });
    finish = async () => { c.close(); return { kernelReceived: null, kernelDropped: null, ifDropped: null }; };
  }
  process.stdout.write('ready\n');
  process.on('SIGTERM', async () => {
    const k = await finish();
    process.stdout.write(`${JSON.stringify({ packets, capBytes, jsCalls: calls, ...k })}\n`);
    process.exit(0);
  });
}

// ───────────── parent ─────────────
function sh(cmd, args, timeout = 300_000) {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function benchPcap() {
  const path = join(tmpdir(), 'llmtap-bench-50m.pcap');
  if (existsSync(path) && statSync(path).size === 52_429_360) return path;
  const script = resolve(repo, process.env.LLMTAP_BENCH_DIR ?? '../shared/bench', 'make-bench-pcap.sh');
  sh(script, [path, '50M']);
  return path;
}

export function makeNs() {
  const tag = `ltc${randomBytes(3).toString('hex')}`;
  const ns = `${tag}ns`;
  const a = `${tag}a`;
  const b = `${tag}b`;
  sh('ip', ['netns', 'add', ns]);
  try {
    sh('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    sh('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1']);
    sh('ip', ['-n', ns, 'link', 'add', a, 'mtu', '9000', 'type', 'veth', 'peer', 'name', b, 'mtu', '9000']);
    for (const i of ['lo', a, b]) sh('ip', ['-n', ns, 'link', 'set', i, 'up']);
  } catch (e) {
    sh('ip', ['netns', 'del', ns]);
    throw e;
  }
  return { ns, a, b, destroy: () => { try { sh('ip', ['netns', 'del', ns]); } catch { /* gone */ } } };
}

async function startChild(env, backend) {
  const c = await startInNs(env.ns, [process.execPath, fileURLToPath(import.meta.url), '--child', backend, env.a],
    { what: `${backend} child`, isReady: (out) => out.includes('ready\n'), readyMs: 30_000, stopMs: 30_000 });
  return {
    stop: async () => {
      const { out, err } = await c.stop();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line) throw new Error(`${backend} child gave no result: ${err.slice(-500)}`);
      return JSON.parse(line);
    },
  };
}

export function replay(env, file, rate, loops) {
  const args = ['netns', 'exec', env.ns, 'tcpreplay', '-i', env.b, `--loop=${loops}`,
    rate === 'topspeed' ? '--topspeed' : `--mbps=${rate}`, file];
  const out = sh('ip', args);
  const m = /Actual:\s+(\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds/.exec(out);
  const r = /Rated:\s+[\d.]+ Bps, ([\d.]+) Mbps, ([\d.]+) pps/.exec(out);
  if (!m) throw new Error(`tcpreplay: ${out}`);
  return { sent: Number(m[1]), sentBytes: Number(m[2]), seconds: Number(m[3]), mbps: r ? Number(r[1]) : null, pps: r ? Number(r[2]) : null };
}

export async function benchCapture(opts = {}) {
  const rates = opts.rates ?? [100, 200, 400, 800, 'topspeed'];
  // Several passes (51 MB each) so what is sent well exceeds the 32 MiB kernel ring.
  const loops = opts.loops ?? 3;
  const file = benchPcap();
  const env = makeNs();
  const rows = [];
  try {
    for (const rate of rates) {
      for (const backend of ['native', 'cap']) {
        const c = await startChild(env, backend);
        const s = replay(env, file, rate, loops);
        await new Promise((r) => setTimeout(r, 500));
        const g = await c.stop();
        rows.push({ backend, rate, ...s, delivered: g.packets, lost: s.sent - g.packets, jsCalls: g.jsCalls,
          kernelReceived: g.kernelReceived, kernelDropped: g.kernelDropped, ifDropped: g.ifDropped });
      }
    }
  } finally {
    env.destroy();
  }
  const summary = {};
  for (const backend of ['native', 'cap']) {
    const mine = rows.filter((r) => r.backend === backend);
    const clean = mine.filter((r) => r.lost === 0 && (r.kernelDropped ?? 0) === 0);
    const best = clean.reduce((m, r) => (m === null || (r.mbps ?? 0) > (m.mbps ?? 0) ? r : m), null);
    summary[backend] = {
      highestZeroLossMbps: best?.mbps ?? null,
      highestZeroLossPps: best?.pps ?? null,
      above: mine.filter((r) => r.lost > 0 || (r.kernelDropped ?? 0) > 0)
        .map((r) => ({ rate: r.rate, mbps: r.mbps, lost: r.lost, kernelDropped: r.kernelDropped })),
    };
  }
  return { file, loops, packetsSent: rows[0]?.sent ?? 0, rows, summary };
}

function table(res) {
  const lines = ['| backend | rate | sent pkts | achieved Mbit/s | kpps | delivered | lost | kernel recv | kernel drop | if drop | JS calls |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const r of res.rows) {
    lines.push(`| ${r.backend} | ${r.rate} | ${r.sent} | ${r.mbps ?? '?'} | ${r.pps ? (r.pps / 1000).toFixed(1) : '?'} | ${r.delivered} | ${r.lost} | ${r.kernelReceived ?? 'n/a'} | ${r.kernelDropped ?? 'n/a'} | ${r.ifDropped ?? 'n/a'} | ${r.jsCalls} |`);
  }
  return lines.join('\n');
}

const argv = process.argv.slice(2);
const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain && argv[0] === '--child') {
  child(argv[1], argv[2]);
} else if (isMain) {
  const ri = argv.indexOf('--rates');
  const rates = ri >= 0 && argv[ri + 1] ? argv[ri + 1].split(',').map((x) => (x === 'topspeed' ? x : Number(x))) : undefined;
  const li = argv.indexOf('--loops');
  const loops = li >= 0 ? Number(argv[li + 1]) : undefined;
  const res = await benchCapture({ ...(rates ? { rates } : {}), ...(loops ? { loops } : {}) });
  process.stdout.write(argv.includes('--json') ? `${JSON.stringify(res, null, 2)}\n` : `${table(res)}\n\n${JSON.stringify(res.summary, null, 2)}\n`);
}
