// The demo's endpoint feed as Sysmon would log it (EID 1 ProcessCreate, EID 3 NetworkConnect),
// flattened to JSON lines the way NXLog im_msvistalog + Logstash ship it (the shape of the
// OTRF datasets; see the EDR notes §2.4). Deliberately without User, CommandLine,
// ParentCommandLine, CurrentDirectory and logon fields: the lab never records them.

import { createHash } from 'node:crypto';
import { basename } from 'node:path';

const ENVELOPE = {
  SourceName: 'Microsoft-Windows-Sysmon',
  ProviderGuid: '{5770385F-C22A-43E0-BF4C-06F5698FFBD9}',
  Channel: 'Microsoft-Windows-Sysmon/Operational',
  Keywords: -9223372036854776000,
  EventType: 'INFO',
  SeverityValue: 2,
  Severity: 'INFO',
  Version: 5,
  OpcodeValue: 0,
  SourceModuleName: 'eventlog',
  SourceModuleType: 'im_msvistalog',
};
const LAG_MS = 1500;

// Sysmon's GUID text for a process instance, derived from (device, pid, start) so that reruns of
// the writer over the same run give the same value.
function guid(...parts) {
  const h = createHash('sha256').update(parts.join('|')).digest('hex');
  return `{${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}}`;
}
const pad = (n, w = 2) => String(n).padStart(w, '0');
function utc(ms) {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}
const noMs = (ms) => utc(ms).slice(0, 19);
// Sysmon prints IPv6 uncompressed without leading zeros (fe80:0:0:0:3816:b2ee:1b9b:324b).
function sysmonIp(ip) {
  if (!ip.includes(':')) return ip;
  const [head, tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0');
  return [...h, ...zeros, ...t].map((g) => parseInt(g, 16).toString(16)).join(':');
}
const message = (title, fields) => `${title}:\r\n${Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('\r\n')}`;

export function sysmonLines(conns, procs) {
  const lines = [];
  const record = new Map();
  const started = new Set();
  const push = (host, eid, timeMs, data, title) => {
    const n = (record.get(host) ?? 0) + 1;
    record.set(host, n);
    lines.push(JSON.stringify({
      EventTime: noMs(timeMs + LAG_MS), Hostname: host, ...ENVELOPE, EventID: eid, Task: eid, RecordNumber: n,
      ExecutionProcessID: 2112, ThreadID: 3344, Message: message(title, data), ...data,
      EventReceivedTime: noMs(timeMs + LAG_MS + 200), '@timestamp': new Date(timeMs + LAG_MS + 300).toISOString(),
    }));
  };
  for (const c of conns) {
    const p = procs.get(`${c.device} ${c.pid}`);
    const pguid = guid(c.device, c.pid, p.startMs);
    if (!started.has(pguid)) {
      started.add(pguid);
      const data = {
        RuleName: '-', UtcTime: utc(p.startMs), ProcessGuid: pguid, ProcessId: String(p.pid), Image: p.path,
        FileVersion: '-', Description: '-', Product: '-', Company: '-', OriginalFileName: basename(p.path),
        IntegrityLevel: 'no level', Hashes: p.sha256 ? `SHA256=${p.sha256.toUpperCase()}` : '-',
        ParentProcessGuid: guid(c.device, p.ppid, 'parent'), ParentProcessId: String(p.ppid),
        ParentImage: p.parentPath ?? '-',
      };
      push(c.device, 1, Math.max(p.startMs, c.tsMs - 1), data, 'Process Create');
    }
    const local = { ip: sysmonIp(c.localAddr), port: String(c.localPort) };
    const remote = { ip: sysmonIp(c.remoteAddr), port: String(c.remotePort) };
    // Initiated=true: Source is the local side; inbound TCP: Source is the peer that connected in.
    const [src, dst] = c.inbound ? [remote, local] : [local, remote];
    const v6 = c.localAddr.includes(':') ? 'true' : 'false';
    push(c.device, 3, c.tsMs, {
      RuleName: '-', UtcTime: utc(c.tsMs), ProcessGuid: pguid, ProcessId: String(c.pid), Image: p.path,
      Protocol: c.proto, Initiated: c.inbound ? 'false' : 'true', SourceIsIpv6: v6, SourceIp: src.ip, SourceHostname: '-',
      SourcePort: src.port, SourcePortName: '-', DestinationIsIpv6: v6, DestinationIp: dst.ip, DestinationHostname: '-',
      DestinationPort: dst.port, DestinationPortName: '-',
    }, 'Network connection detected');
  }
  return lines;
}
