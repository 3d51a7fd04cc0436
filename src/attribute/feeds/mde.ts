/**
 * Microsoft Defender for Endpoint `DeviceNetworkEvents` (docs/edr-join.md §3): advanced-hunting
 * export rows (the columns at the top level) and the streaming-API record (`properties` =
 * the row; the envelope `time` is receipt time and never used). `Local*` is host-relative;
 * direction comes from `ActionType` (docs/edr-join.md §3). Account, command-line, remote-session and
 * `AdditionalFields` columns are never read.
 */
import { canonHash, canonInt, canonIp, canonPort, canonTransport, parseTimeMs, str } from '../normalize.js';
import { buildConnection, edrTenantAccepted, type FeedContext, type FeedOutcome } from './context.js';
import { isObj } from './win-event.js';

type Obj = Record<string, unknown>;

const OUTBOUND = new Set(['ConnectionSuccess', 'ConnectionRequest', 'ConnectionFailed']);

/** The row of an envelope record or an export row; undefined when neither. */
export function mdeRow(o: Obj): Obj | undefined {
  const p = o['properties'];
  if (isObj(p)) return p;
  return typeof o['ActionType'] === 'string' && ('DeviceId' in o || 'DeviceName' in o) ? o : undefined;
}

export function handleMde(ctx: FeedContext, o: Obj): FeedOutcome {
  const cat = o['category'];
  if (typeof cat === 'string' && !cat.endsWith('DeviceNetworkEvents')) return 'mde.unsupported_table';
  // §3.3: the envelope tenant must be the feed credential's tenant when both are known.
  if (!edrTenantAccepted(ctx, o['tenantId'])) return 'mde.tenant_mismatch';
  const row = mdeRow(o);
  if (row === undefined) return 'mde.no_row';
  const action = str(row['ActionType']) ?? '';
  let direction: 'outbound' | 'inbound';
  let tsKind: 'connect' | 'accept' | 'observed';
  if (OUTBOUND.has(action)) { direction = 'outbound'; tsKind = 'connect'; }
  else if (action === 'InboundConnectionAccepted') { direction = 'inbound'; tsKind = 'accept'; }
  else if (action === 'ConnectionFound') { direction = 'outbound'; tsKind = 'observed'; }
  else if (action === 'ListeningConnectionCreated') return 'mde.listening';
  else return 'mde.no_process_action';
  const pid = canonInt(row['InitiatingProcessId']);
  const created = parseTimeMs(row['InitiatingProcessCreationTime']);
  const parent = str(row['InitiatingProcessParentFileName']);
  const deviceId = str(row['DeviceId']) ?? str(row['DeviceName']);
  const reportId = str(row['ReportId']);
  const ts = str(row['Timestamp']);
  return buildConnection(ctx, {
    source: 'mde',
    sourceEventId: deviceId !== undefined && reportId !== undefined && ts !== undefined ? `${deviceId}:${reportId}:${ts}` : undefined,
    tsMs: parseTimeMs(row['Timestamp']),
    tsKind,
    deviceId,
    deviceName: str(row['DeviceName']),
    localAddr: canonIp(row['LocalIP']),
    localPort: canonPort(row['LocalPort']),
    remoteAddr: canonIp(row['RemoteIP']),
    remotePort: canonPort(row['RemotePort']),
    transport: canonTransport(row['Protocol']),
    direction,
    pid: pid === 0 ? undefined : pid,
    processKey: pid !== undefined && created !== undefined ? `${pid}@${String(row['InitiatingProcessCreationTime'])}` : undefined,
    processStartMs: created,
    image: str(row['InitiatingProcessFolderPath']),
    processName: str(row['InitiatingProcessFileName']),
    sha256: canonHash(row['InitiatingProcessSHA256'], 64),
    sha1: canonHash(row['InitiatingProcessSHA1'], 40),
    parentName: parent,
    ancestors: parent !== undefined ? [parent] : [],
    remoteNameHint: str(row['RemoteUrl']),
  });
}
