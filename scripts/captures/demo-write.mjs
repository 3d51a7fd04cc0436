// Turns one demo run (the poller's raw.jsonl, the scenario's steps.jsonl, the capture) into
// pcaps/demo/: the endpoint feed in llmtap's NDJSON (EdrConnection v1) and in Sysmon EID 1/3
// NXLog JSON, expected.json (facts of the run + tshark's reading of the capture) and README.md.
//
//   node demo-write.mjs --run DIR --out pcaps/demo --t0 MS --devices id=v4,v6 ... --hosts "n=v4,v6;..." --versions TEXT

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { derive } from './oracle.mjs';
import { sysmonLines } from './demo-sysmon.mjs';
import { readmeText } from './demo-readme.mjs';

const args = process.argv.slice(2);
const o = { run: '', out: '', t0: 0, devices: [], hosts: '', versions: '' };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--run') o.run = args[++i];
  else if (a === '--out') o.out = args[++i];
  else if (a === '--t0') o.t0 = Number(args[++i]);
  else if (a === '--hosts') o.hosts = args[++i];
  else if (a === '--versions') o.versions = args[++i];
  else if (a === '--devices') { while (args[i + 1] && !args[i + 1].startsWith('--')) o.devices.push(args[++i]); }
}

const TENANT = 'demo';
const COVERED = new Set(['device-a', 'device-b', 'device-c']);
// Feed records reach the sensor a fixed 1.5 s after the event (a typical shipper delay).
const RECEIVE_LAG_MS = 1500;

const jsonl = (f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const raw = jsonl(join(o.run, 'raw.jsonl'));
const steps = jsonl(join(o.run, 'steps.jsonl'));
const devices = o.devices.map((d) => { const [id, addrs] = d.split('='); return { id, addrs: addrs.split(','), edr: COVERED.has(id) }; });
const hosts = Object.fromEntries(o.hosts.split(';').filter(Boolean).sort().map((h) => { const [n, a] = h.split('='); return [n, a.split(',')]; }));
hosts.localhost = ['127.0.0.1', '::1'];

// ── processes (from the poller), with a stable process key ──
const procs = new Map();
for (const r of raw.filter((x) => x.kind === 'proc')) {
  procs.set(`${r.device} ${r.pid}`, {
    device: r.device, pid: r.pid, startMs: r.startMs, name: basename(r.exe), path: r.exe, sha256: r.sha256,
    ppid: r.ppid, parentName: r.parentExe ? basename(r.parentExe) : undefined, parentPath: r.parentExe ?? undefined,
  });
}
// One record per (device, 5-tuple, pid): an accepted socket can show up twice while it moves
// from the accept queue to the process.
const connKeys = new Set();
const conns = raw.filter((x) => {
  if (x.kind !== 'conn' || !COVERED.has(x.device) || !procs.has(`${x.device} ${x.pid}`)) return false;
  const k = [x.device, x.proto, x.localAddr, x.localPort, x.remoteAddr, x.remotePort, x.pid].join(' ');
  if (connKeys.has(k)) return false;
  connKeys.add(k);
  return true;
});

// ── llmtap NDJSON (EdrConnection v1, field names of src/records.ts) ──
const feed = conns.map((c, i) => {
  const p = procs.get(`${c.device} ${c.pid}`);
  const rec = {
    v: 1, tenant: TENANT, source: 'llmtap', sourceEventId: `${c.device}:${i + 1}`,
    tsMs: c.tsMs, tsKind: c.inbound ? 'accept' : 'connect', receivedAtMs: c.tsMs + RECEIVE_LAG_MS,
    deviceId: c.device, deviceName: c.device,
    localAddr: c.localAddr, localPort: c.localPort, remoteAddr: c.remoteAddr, remotePort: c.remotePort,
    transport: c.proto, direction: c.inbound ? 'inbound' : 'outbound',
    pid: c.pid, processKey: `${c.pid}@${p.startMs}`, processStartMs: p.startMs,
    processName: p.name, processPath: p.path, sha256: p.sha256, hashUnknown: !p.sha256,
  };
  if (p.parentName) rec.parentName = p.parentName;
  return rec;
});
mkdirSync(join(o.out, 'edr'), { recursive: true });
writeFileSync(join(o.out, 'edr', 'llmtap.ndjson'), feed.map((r) => JSON.stringify(r)).join('\n') + '\n');
writeFileSync(join(o.out, 'edr', 'sysmon-nxlog.jsonl'), sysmonLines(conns, procs).join('\n') + '\n');

// ── tshark's reading of the capture, and the 5-tuples of every step ──
const oracle = derive(join(o.out, 'demo.pcap.gz'), 'demo.pcap.gz');
const endMs = steps.find((s) => s.step === 0)?.startMs ?? Infinity;
const devAddrs = (ids) => devices.filter((d) => ids.includes(d.id)).flatMap((d) => d.addrs);
const deviceOf = (addr) => devices.find((d) => d.addrs.includes(addr))?.id;
const real = steps.filter((s) => s.step !== 0);
const stepFacts = real.map((s, idx) => {
  // A step lasts until the next one starts; the background worker (step 3) until the end.
  const next = real.slice(idx + 1).find((x) => x.startMs > s.startMs);
  const until = s.step === 3 ? endMs : next?.startMs ?? endMs;
  const ids = s.device.split(',');
  const from = new Set(devAddrs(ids));
  const to = new Set(s.hosts.flatMap((h) => hosts[h] ?? []));
  const hostOf = (addr) => s.hosts.find((h) => (hosts[h] ?? []).includes(addr));
  const attribute = (proto, la, lp, ra, rp) => {
    const f = feed.find((r) => r.transport === proto && r.localAddr === la && r.localPort === lp
      && r.remoteAddr === ra && r.remotePort === rp && r.direction === 'outbound');
    return f ? { pid: f.pid, processName: f.processName, sha256: f.sha256, parentName: f.parentName ?? null } : null;
  };
  let flows;
  if (s.hosts.includes('localhost')) {
    flows = feed.filter((r) => r.remoteAddr === '127.0.0.1' && r.direction === 'outbound' && r.tsMs >= s.startMs && r.tsMs < until)
      .map((r) => ({ proto: r.transport, device: r.deviceId, client: r.localAddr, clientPort: r.localPort, server: r.remoteAddr,
        serverPort: r.remotePort, host: 'localhost', onTap: false, edr: attribute(r.transport, r.localAddr, r.localPort, r.remoteAddr, r.remotePort) }));
  } else {
    flows = oracle.flows.filter((f) => from.has(f.a) && to.has(f.b) && f.b_port === 443
      && Number(f.first_time_epoch) * 1000 >= s.startMs - 50 && Number(f.first_time_epoch) * 1000 < until)
      .map((f) => ({ proto: f.proto, device: deviceOf(f.a), client: f.a, clientPort: f.a_port, server: f.b, serverPort: f.b_port,
        host: hostOf(f.b), onTap: true, firstFrame: f.first_frame, bytesOut: f.bytes_a_to_b, bytesIn: f.bytes_b_to_a,
        sni: oracle.sni.find((h) => h.src === f.a && h.sport === f.a_port && h.dst === f.b && h.dport === f.b_port)?.sni ?? null,
        edr: attribute(f.proto, f.a, f.a_port, f.b, f.b_port) }));
  }
  return { step: s.step, title: s.title, devices: ids, hosts: s.hosts, startMs: s.startMs, untilMs: until, flows };
});

const usedProcs = [...procs.values()].filter((p) => feed.some((r) => r.deviceId === p.device && r.pid === p.pid));
const expected = {
  scenario: { tenant: TENANT, t0Ms: o.t0, endMs, clients: o.versions, receiveLagMs: RECEIVE_LAG_MS },
  devices,
  hosts,
  processes: usedProcs.sort((a, b) => a.device.localeCompare(b.device) || a.pid - b.pid),
  steps: stepFacts,
  edr: {
    llmtapRecords: feed.length,
    sysmonEid3: conns.length,
    sysmonEid1: new Set(conns.map((c) => `${c.device} ${c.pid}`)).size,
    devicesWithRecords: [...new Set(feed.map((r) => r.deviceId))].sort(),
    loopbackRecords: feed.filter((r) => r.remoteAddr === '127.0.0.1' || r.localAddr === '127.0.0.1').length,
  },
  oracle,
};
writeFileSync(join(o.out, 'expected.json'), `${JSON.stringify(expected, null, 1)}\n`);
writeFileSync(join(o.out, 'README.md'), readmeText(expected));
const missed = stepFacts.flatMap((s) => s.flows.filter((f) => f.edr === null && COVERED.has(f.device)));
if (missed.length > 0) process.stderr.write(`demo: WARNING ${missed.length} flows of covered devices have no feed record: ${JSON.stringify(missed)}\n`);
process.stdout.write(`demo: ${feed.length} feed records, ${oracle.counts.packets} packets, steps ${stepFacts.map((s) => `${s.step}:${s.flows.length}`).join(' ')}\n`);
