/**
 * Sysmon events 1, 3, 5, 22 (docs/edr-join.md §2.1–2.3) from any shape (win-event.ts, xml.ts).
 * EID 1 fills the process table (hash, parent) keyed by ProcessGuid; EID 3 becomes a
 * connection record enriched from it; EID 22 answers become name hints; EID 5 marks the end.
 * Only the fields listed here are read: CommandLine, User, LogonId and Message are never touched.
 */
import { basename, canonInt, canonIp, canonPort, canonTransport, isUnknownProcess, parseSysmonHashes, parseTimeMs, str } from '../normalize.js';
import { buildConnection, type FeedContext, type FeedOutcome } from './context.js';
import { winConnection, type WinEvent } from './win-event.js';

function deviceOf(ev: WinEvent): string | undefined {
  return ev.computer?.toLowerCase();
}

/** Start events first (a batch may hold EID 3 before the EID 1 of its process). */
export function sysmonPrepass(ctx: FeedContext, ev: WinEvent): void {
  if (ev.eventId !== 1) return;
  const device = deviceOf(ev);
  const guid = str(ev.data['ProcessGuid']);
  if (device === undefined || guid === undefined) return;
  const h = parseSysmonHashes(ev.data['Hashes']);
  const image = str(ev.data['Image']);
  ctx.state.procs.set(device, guid, {
    ...(image !== undefined ? { image } : {}),
    ...(h.sha256 !== undefined ? { sha256: h.sha256 } : {}),
    ...(h.sha1 !== undefined ? { sha1: h.sha1 } : {}),
    ...optNum('startMs', parseTimeMs(ev.data['UtcTime'])),
    ...optStr('parentKey', str(ev.data['ParentProcessGuid'])),
    ...optStr('parentImage', str(ev.data['ParentImage'])),
  });
}

function optStr<K extends string>(k: K, v: string | undefined): { [P in K]?: string } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: string };
}
function optNum<K extends string>(k: K, v: number | undefined): { [P in K]?: number } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: number };
}

function networkConnect(ctx: FeedContext, ev: WinEvent): FeedOutcome {
  const d = ev.data;
  const device = deviceOf(ev);
  const transport = canonTransport(d['Protocol']);
  const initiated = String(d['Initiated']).toLowerCase() === 'true';
  const src = { ip: canonIp(d['SourceIp']), port: canonPort(d['SourcePort']), name: str(d['SourceHostname']) };
  const dst = { ip: canonIp(d['DestinationIp']), port: canonPort(d['DestinationPort']), name: str(d['DestinationHostname']) };
  // §2.3: tcp inbound puts the local host in Destination; udp (either way) and outbound in Source.
  const localIsDst = transport === 'tcp' && !initiated;
  const local = localIsDst ? dst : src;
  const remote = localIsDst ? src : dst;
  const guid = str(d['ProcessGuid']);
  const info = device !== undefined && guid !== undefined ? ctx.state.procs.get(device, guid) : undefined;
  const rawImage = str(d['Image']);
  const image = rawImage !== undefined && !isUnknownProcess(rawImage) ? rawImage : info?.image;
  const hint = remote.name ?? (device !== undefined && remote.ip !== undefined ? ctx.state.dns.get(device, remote.ip) : undefined);
  return buildConnection(ctx, {
    source: 'sysmon',
    ...winConnection(ev, initiated, local, remote),
    tsMs: parseTimeMs(d['UtcTime']) ?? ev.systemTimeMs,
    transport,
    pid: canonInt(d['ProcessId']),
    processKey: guid,
    processStartMs: info?.startMs,
    image,
    sha256: info?.sha256,
    sha1: info?.sha1,
    parentName: basename(info?.parentImage),
    ancestors: device !== undefined ? ctx.state.procs.ancestors(device, info) : undefined,
    remoteNameHint: hint,
  });
}

function dnsQuery(ctx: FeedContext, ev: WinEvent): 'sysmon.dns_query' {
  const device = deviceOf(ev);
  const name = str(ev.data['QueryName']);
  const results = ev.data['QueryResults'];
  if (device === undefined || name === undefined || typeof results !== 'string') return 'sysmon.dns_query';
  // "type:  5 cname;::ffff:1.2.3.4;" — keep the address entries only
  for (const part of results.split(';')) {
    const ip = canonIp(part);
    if (ip !== undefined) ctx.state.dns.set(device, ip, name.toLowerCase());
  }
  return 'sysmon.dns_query';
}

export function handleSysmon(ctx: FeedContext, ev: WinEvent): FeedOutcome {
  switch (ev.eventId) {
    case 3: return networkConnect(ctx, ev);
    case 1: return 'sysmon.process_create';
    case 5: {
      const device = deviceOf(ev);
      const guid = str(ev.data['ProcessGuid']);
      const info = device !== undefined && guid !== undefined ? ctx.state.procs.get(device, guid) : undefined;
      // Kept until evicted: reordered EID 3 of a finished process still find their hash.
      if (info !== undefined) info.endedMs = parseTimeMs(ev.data['UtcTime']) ?? 0;
      return 'sysmon.process_terminate';
    }
    case 22: return dnsQuery(ctx, ev);
    default: return 'sysmon.unsupported_event';
  }
}
