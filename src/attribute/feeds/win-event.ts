/**
 * Windows event shapes → one `WinEvent` (docs/edr-join.md §2.4): NXLog-flattened JSON (EventData
 * fields at the top level), Winlogbeat 6 (`event_data.*`), Winlogbeat 7+/Elastic Agent ECS
 * (mapped back to the Sysmon field names), and raw event XML (see xml.ts). Only the fields
 * the Sysmon/WFP handlers read are copied; nothing else is carried on.
 */
import { parseTimeMs, str } from '../normalize.js';
import type { ConnFields } from './context.js';

export interface WinEvent {
  provider: 'sysmon' | 'security' | 'other';
  eventId: number;
  computer: string | undefined;
  recordId: string | undefined;
  /** Envelope time: TimeCreated (XML) or the shipper's @timestamp (UTC). */
  systemTimeMs: number | undefined;
  data: Readonly<Record<string, unknown>>;
}

type Obj = Record<string, unknown>;

/** One end of a connection event: its address and port (through canonIp, canonPort). */
export interface EventEnd {
  ip: string | undefined;
  port: number;
}

/**
 * What a Windows connection event (Sysmon 3, Security 5156) gives alike: its id on its device,
 * the device, the two ends, and the direction (an outbound event is a connect, an inbound one an
 * accept). The handlers add time, transport and process.
 */
export function winConnection(
  ev: WinEvent,
  outbound: boolean,
  local: EventEnd,
  remote: EventEnd,
): Pick<ConnFields, 'sourceEventId' | 'tsKind' | 'deviceId' | 'deviceName' | 'localAddr' | 'localPort' | 'remoteAddr' | 'remotePort' | 'direction'> {
  const device = ev.computer?.toLowerCase();
  return {
    sourceEventId: ev.recordId !== undefined && device !== undefined ? `${device}:${ev.recordId}` : undefined,
    tsKind: outbound ? 'connect' : 'accept',
    deviceId: device,
    deviceName: ev.computer,
    localAddr: local.ip,
    localPort: local.port,
    remoteAddr: remote.ip,
    remotePort: remote.port,
    direction: outbound ? 'outbound' : 'inbound',
  };
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Nested or dotted-key lookup: `get(o, 'process.entity_id')` reads either shape. */
export function dig(o: Obj, path: string): unknown {
  if (path in o) return o[path];
  let cur: unknown = o;
  for (const part of path.split('.')) {
    if (!isObj(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

export function providerOf(name: unknown, channel: unknown): WinEvent['provider'] {
  const n = `${typeof name === 'string' ? name : ''} ${typeof channel === 'string' ? channel : ''}`.toLowerCase();
  if (n.includes('sysmon')) return 'sysmon';
  if (n.includes('security')) return 'security';
  return 'other';
}

/** NXLog im_msvistalog JSON: `EventID`, `Hostname`, EventData fields at the top level. */
export function fromNxlog(o: Obj): WinEvent | undefined {
  const id = Number(o['EventID']);
  if (!Number.isInteger(id)) return undefined;
  return {
    provider: providerOf(o['SourceName'] ?? o['ProviderName'], o['Channel']),
    eventId: id,
    computer: str(o['Hostname']),
    recordId: str(o['RecordNumber']),
    systemTimeMs: parseTimeMs(o['@timestamp']),
    data: o,
  };
}

/** Winlogbeat 6.x: `event_id`, `computer_name`, `event_data.*`. */
export function fromWinlogbeat6(o: Obj): WinEvent | undefined {
  const id = Number(o['event_id']);
  const data = o['event_data'];
  if (!Number.isInteger(id) || !isObj(data)) return undefined;
  return {
    provider: providerOf(o['source_name'], o['log_name']),
    eventId: id,
    computer: str(o['computer_name']),
    recordId: str(o['record_number']),
    systemTimeMs: parseTimeMs(o['@timestamp']),
    data,
  };
}

function hashesFromEcs(o: Obj): string | undefined {
  const parts: string[] = [];
  const s256 = dig(o, 'process.hash.sha256');
  const s1 = dig(o, 'process.hash.sha1');
  if (typeof s256 === 'string') parts.push(`SHA256=${s256}`);
  if (typeof s1 === 'string') parts.push(`SHA1=${s1}`);
  return parts.length > 0 ? parts.join(',') : undefined;
}

/**
 * Winlogbeat 7+/Elastic Agent ECS (sysmon module mapping, docs/edr-join.md §2.4 table): read the
 * ECS fields back into Sysmon names. `winlog.event_data` leftovers are read only for the
 * fields listed here.
 */
export function fromEcsWinlog(o: Obj): WinEvent | undefined {
  const winlog = o['winlog'];
  if (!isObj(winlog)) return undefined;
  const id = Number(winlog['event_id'] ?? dig(o, 'event.code'));
  if (!Number.isInteger(id)) return undefined;
  const ed = isObj(winlog['event_data']) ? winlog['event_data'] : {};
  const dir = dig(o, 'network.direction');
  const initiated = dir === 'egress' || dir === 'outbound' ? 'true' : dir === 'ingress' || dir === 'inbound' ? 'false' : ed['Initiated'];
  const resolved = dig(o, 'dns.resolved_ip');
  const data: Obj = {
    UtcTime: ed['UtcTime'] ?? o['@timestamp'],
    ProcessGuid: dig(o, 'process.entity_id') ?? ed['ProcessGuid'],
    ProcessId: dig(o, 'process.pid') ?? ed['ProcessId'],
    Image: dig(o, 'process.executable') ?? ed['Image'],
    Protocol: dig(o, 'network.transport') ?? ed['Protocol'],
    Initiated: initiated,
    SourceIp: dig(o, 'source.ip') ?? ed['SourceIp'],
    SourcePort: dig(o, 'source.port') ?? ed['SourcePort'],
    SourceHostname: dig(o, 'source.domain') ?? ed['SourceHostname'],
    DestinationIp: dig(o, 'destination.ip') ?? ed['DestinationIp'],
    DestinationPort: dig(o, 'destination.port') ?? ed['DestinationPort'],
    DestinationHostname: dig(o, 'destination.domain') ?? ed['DestinationHostname'],
    Hashes: hashesFromEcs(o) ?? ed['Hashes'],
    ParentProcessGuid: dig(o, 'process.parent.entity_id') ?? ed['ParentProcessGuid'],
    ParentImage: dig(o, 'process.parent.executable') ?? ed['ParentImage'],
    QueryName: dig(o, 'dns.question.name') ?? ed['QueryName'],
    QueryResults: Array.isArray(resolved) ? resolved.join(';') : ed['QueryResults'],
    // WFP 5156 in ECS keeps its EventData names under winlog.event_data
    Application: ed['Application'],
    SourceAddress: ed['SourceAddress'],
    DestAddress: ed['DestAddress'],
    DestPort: ed['DestPort'],
    Direction: ed['Direction'],
    ProcessID: ed['ProcessID'] ?? ed['ProcessId'],
  };
  if (id === 5156) {
    data['SourcePort'] = ed['SourcePort'];
    data['Protocol'] = ed['Protocol'];
  }
  return {
    provider: providerOf(winlog['provider_name'], winlog['channel']),
    eventId: id,
    computer: str(winlog['computer_name'] ?? dig(o, 'host.name')),
    recordId: str(winlog['record_id']),
    systemTimeMs: parseTimeMs(o['@timestamp']),
    data,
  };
}
