// Turns one fleet run (the poller's raw.jsonl, steps.jsonl, the captures) into pcaps/fleet/:
// the endpoint feed as llmtap NDJSON, as Sysmon EID 1/3 NXLog JSON from endpoint clocks 11 h
// ahead, and as Microsoft Defender streaming events (DeviceNetworkEvents, SHA-1 only), plus
// expected.json (facts of the run, and tshark's flows of each capture) and README.md.
//
//   node fleet-write.mjs --run DIR --out pcaps/fleet --t0 MS --devices id=addr,... --hosts "n=v4,v6;..." --versions TEXT

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { derive } from './oracle.mjs';
import { sysmonLines } from './demo-sysmon.mjs';

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

const TENANT = 'fleet';
const RECEIVE_LAG_MS = 1500;
/** The Sysmon hosts' clocks run this far ahead of the tap (the skew the sensor must learn). */
const SYSMON_CLOCK_OFFSET_MS = 11 * 3_600_000;
/** Defender's tenant id in the streaming envelope (a fixed lab value). */
const MDE_TENANT_ID = '8f3c2a10-5d7e-4b1a-9c0e-2f6b7d1e4a55';

const jsonl = (f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const raw = jsonl(join(o.run, 'raw.jsonl'));
const steps = jsonl(join(o.run, 'steps.jsonl'));
// Defender names a device by a 40-hex DeviceId; derived from the lab name so reruns agree.
const mdeId = (id) => createHash('sha1').update(`llmtap-lab:${id}`).digest('hex');
const devices = o.devices.map((d) => {
  const [id, addrs] = d.split('=');
  const list = addrs.split(',');
  return { id, addrs: list, ipv6Only: list.every((a) => a.includes(':')), mdeDeviceId: mdeId(id) };
});
const hosts = Object.fromEntries(o.hosts.split(';').filter(Boolean).sort().map((h) => { const [n, a] = h.split('='); return [n, a.split(',')]; }));
hosts.localhost = ['127.0.0.1', '::1'];

const procs = new Map();
for (const r of raw.filter((x) => x.kind === 'proc')) {
  procs.set(`${r.device} ${r.pid}`, {
    device: r.device, pid: r.pid, startMs: r.startMs, name: basename(r.exe), path: r.exe, sha256: r.sha256, sha1: r.sha1,
    ppid: r.ppid, parentName: r.parentExe ? basename(r.parentExe) : undefined, parentPath: r.parentExe ?? undefined,
  });
}
const connKeys = new Set();
const conns = raw.filter((x) => {
  if (x.kind !== 'conn' || !procs.has(`${x.device} ${x.pid}`)) return false;
  const k = [x.device, x.proto, x.localAddr, x.localPort, x.remoteAddr, x.remotePort, x.pid].join(' ');
  if (connKeys.has(k)) return false;
  connKeys.add(k);
  return true;
});

// ── llmtap NDJSON ──
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

// ── Sysmon, endpoint clocks 11 h ahead (every endpoint time: events and process starts) ──
const ahead = (ms) => ms + SYSMON_CLOCK_OFFSET_MS;
const skewedProcs = new Map([...procs].map(([k, p]) => [k, { ...p, startMs: ahead(p.startMs) }]));
const skewedConns = conns.map((c) => ({ ...c, tsMs: ahead(c.tsMs) }));
writeFileSync(join(o.out, 'edr', 'sysmon-nxlog-11h-ahead.jsonl'), sysmonLines(skewedConns, skewedProcs).join('\n') + '\n');

// ── Defender streaming API (Event Hub / storage): {"records":[{time, tenantId, operationName,
// category, properties: DeviceNetworkEvents row}]}, a batch per line. SHA-1 only: Defender
// leaves InitiatingProcessSHA256 empty for most processes, as in this feed. ──
const iso7 = (ms) => new Date(ms).toISOString().replace('Z', '0000Z');
let report = 1000;
const mdeRecords = conns.map((c) => {
  const p = procs.get(`${c.device} ${c.pid}`);
  const loop = c.localAddr === '127.0.0.1' || c.localAddr === '::1';
  const ipType = (a) => (a === '127.0.0.1' || a === '::1' ? 'Loopback' : 'Private');
  const props = {
    Timestamp: iso7(c.tsMs),
    DeviceId: mdeId(c.device),
    DeviceName: `${c.device}.lab.example`,
    ActionType: c.inbound ? 'InboundConnectionAccepted' : 'ConnectionSuccess',
    RemoteIP: c.remoteAddr, RemotePort: c.remotePort, RemoteUrl: '',
    LocalIP: c.localAddr, LocalPort: c.localPort,
    Protocol: c.proto === 'tcp' ? 'Tcp' : 'Udp',
    LocalIPType: ipType(c.localAddr), RemoteIPType: loop ? 'Loopback' : ipType(c.remoteAddr),
    InitiatingProcessSHA1: p.sha1, InitiatingProcessSHA256: '', InitiatingProcessMD5: '',
    InitiatingProcessFileName: p.name, InitiatingProcessFolderPath: p.path,
    InitiatingProcessId: p.pid, InitiatingProcessCreationTime: iso7(p.startMs),
    InitiatingProcessParentFileName: p.parentName ?? '', InitiatingProcessParentId: p.ppid,
    ReportId: report++,
  };
  return { time: iso7(c.tsMs + RECEIVE_LAG_MS), tenantId: MDE_TENANT_ID, operationName: 'Publish', category: 'AdvancedHunting-DeviceNetworkEvents', properties: props };
});
const batches = [];
for (let i = 0; i < mdeRecords.length; i += 8) batches.push(JSON.stringify({ records: mdeRecords.slice(i, i + 8) }));
writeFileSync(join(o.out, 'edr', 'mde-streaming.jsonl'), batches.join('\n') + '\n');

// ── tshark's reading of each capture; each step's connections from the feed, with the capture
// that holds them ──
const captures = ['tap.pcap.gz', 'lo-device-a.pcap.gz', 'lo-device-b.pcap.gz'];
const oracle = Object.fromEntries(captures.map((f) => [f, derive(join(o.out, f), f)]));
const captureOf = (c) => (c.localAddr === '127.0.0.1' || c.localAddr === '::1' ? `lo-${c.device}.pcap.gz` : 'tap.pcap.gz');
const inCapture = (file, r) => (oracle[file]?.flows ?? []).some((f) => f.a === r.localAddr && f.a_port === r.localPort && f.b === r.remoteAddr && f.b_port === r.remotePort);
const endMs = steps.find((s) => s.step === 0)?.startMs ?? Infinity;
const real = steps.filter((s) => s.step !== 0);
// The poller stamps a connection with the start of the poll that found it, which can be a few
// ms before the step's marker: a record belongs to the last step of its device that started at
// most SLACK_MS after it.
const SLACK_MS = 250;
const stepOf = (r) => real.filter((s) => s.device.split(',').includes(r.deviceId) && s.startMs - SLACK_MS <= r.tsMs).at(-1);
const hostOf = (addr) => Object.keys(hosts).find((h) => hosts[h].includes(addr)) ?? null;
const stepFacts = real.map((s, idx) => {
  const until = real[idx + 1]?.startMs ?? endMs;
  const ids = s.device.split(',');
  const flows = feed.filter((r) => r.direction === 'outbound' && stepOf(r) === s && r.tsMs < endMs && r.remotePort !== 53)
    .map((r) => {
      const p = procs.get(`${r.deviceId} ${r.pid}`);
      const capture = captureOf({ device: r.deviceId, localAddr: r.localAddr });
      return {
        proto: r.transport, device: r.deviceId, client: r.localAddr, clientPort: r.localPort, server: r.remoteAddr, serverPort: r.remotePort,
        host: hostOf(r.remoteAddr), capture, captured: inCapture(capture, r),
        edr: { pid: r.pid, processName: r.processName, sha256: p.sha256, sha1: p.sha1, parentName: r.parentName ?? null },
      };
    });
  return { step: s.step, title: s.title, devices: ids, hosts: s.hosts, startMs: s.startMs, untilMs: until, flows };
});

const usedProcs = [...procs.values()].filter((p) => feed.some((r) => r.deviceId === p.device && r.pid === p.pid));
const expected = {
  scenario: { tenant: TENANT, t0Ms: o.t0, endMs, clients: o.versions, receiveLagMs: RECEIVE_LAG_MS, sysmonClockOffsetMs: SYSMON_CLOCK_OFFSET_MS, mdeTenantId: MDE_TENANT_ID },
  devices,
  hosts,
  processes: usedProcs.sort((a, b) => a.device.localeCompare(b.device) || a.pid - b.pid)
    .map(({ device, pid, name, path, sha256, sha1, parentName }) => ({ device, pid, name, path, sha256, sha1, parentName: parentName ?? null })),
  steps: stepFacts,
  edr: {
    records: feed.length,
    outbound: feed.filter((r) => r.direction === 'outbound').length,
    loopback: feed.filter((r) => r.localAddr === '127.0.0.1' || r.localAddr === '::1').length,
    sysmonEid3: conns.length,
    sysmonEid1: new Set(conns.map((c) => `${c.device} ${c.pid}`)).size,
    mdeRecords: mdeRecords.length,
  },
  oracle,
};
writeFileSync(join(o.out, 'expected.json'), `${JSON.stringify(expected, null, 1)}\n`);
const missed = stepFacts.flatMap((s) => s.flows.filter((f) => !f.captured));
if (missed.length > 0) process.stderr.write(`fleet: WARNING ${missed.length} feed connections are in no capture: ${JSON.stringify(missed)}\n`);
process.stdout.write(`fleet: ${feed.length} feed records, steps ${stepFacts.map((s) => `${s.step}:${s.flows.length}`).join(' ')}; packets ${captures.map((f) => `${f}=${oracle[f].counts.packets}`).join(' ')}\n`);
