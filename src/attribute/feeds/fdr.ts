/**
 * CrowdStrike Falcon Data Replicator (docs/edr-join.md §5): every value a string.
 * `NetworkConnectIP4/6` (outbound) and `NetworkReceiveAcceptIP4/6` (inbound) become records;
 * `ProcessRollup2`/`SyntheticProcessRollup2` fill the process table by (aid, TargetProcessId).
 * `CommandLine`, `UserName`, `UserSid` are never read; script/command-history events are
 * skipped whole.
 */
import { basename, canonHash, canonInt, canonIp, canonPort, canonTransport, epochSecondsToMs, str } from '../normalize.js';
import { buildConnection, edrTenantAccepted, type FeedContext, type FeedOutcome } from './context.js';

type Obj = Record<string, unknown>;

function isRollup(name: string): boolean {
  return name === 'ProcessRollup2' || name === 'SyntheticProcessRollup2';
}

export function fdrPrepass(ctx: FeedContext, o: Obj): void {
  const name = str(o['event_simpleName']);
  if (name === undefined || !isRollup(name)) return;
  const aid = str(o['aid'])?.toLowerCase();
  const key = str(o['TargetProcessId']);
  if (aid === undefined || key === undefined) return;
  const image = str(o['ImageFileName']);
  const sha256 = canonHash(o['SHA256HashData'], 64);
  const sha1 = canonHash(o['SHA1HashData'], 40);
  const startMs = epochSecondsToMs(o['ProcessStartTime']);
  const parentKey = str(o['ParentProcessId']);
  const parentImage = str(o['ParentBaseFileName']);
  const pid = canonInt(o['RawProcessId']);
  ctx.state.procs.set(aid, key, {
    ...(pid !== undefined ? { pid } : {}),
    ...(image !== undefined ? { image } : {}),
    ...(sha256 !== undefined ? { sha256 } : {}),
    ...(sha1 !== undefined ? { sha1 } : {}),
    ...(startMs !== undefined ? { startMs } : {}),
    ...(parentKey !== undefined ? { parentKey } : {}),
    ...(parentImage !== undefined ? { parentImage } : {}),
  });
}

export function handleFdr(ctx: FeedContext, o: Obj): FeedOutcome {
  // §8.1: the customer id must be the feed credential's tenant when both are known.
  if (!edrTenantAccepted(ctx, o['cid'])) return 'fdr.tenant_mismatch';
  const name = str(o['event_simpleName']) ?? '';
  if (isRollup(name)) return 'fdr.process_rollup';
  const connect = name.startsWith('NetworkConnectIP');
  const accept = name.startsWith('NetworkReceiveAcceptIP');
  if (!connect && !accept) return name.startsWith('NetworkListen') ? 'fdr.listening' : 'fdr.unsupported_event';
  const aid = str(o['aid'])?.toLowerCase();
  const key = str(o['ContextProcessId']);
  const info = aid !== undefined && key !== undefined ? ctx.state.procs.get(aid, key) : undefined;
  const dir = str(o['ConnectionDirection']);
  const outbound = dir !== undefined ? dir === '0' : connect;
  const v6 = name.endsWith('6');
  return buildConnection(ctx, {
    source: 'fdr',
    sourceEventId: str(o['id']),
    tsMs: epochSecondsToMs(o['ContextTimeStamp']),
    tsKind: outbound ? 'connect' : 'accept',
    deviceId: aid,
    deviceName: str(o['ComputerName']),
    localAddr: canonIp(v6 ? o['LocalAddressIP6'] : o['LocalAddressIP4']),
    localPort: canonPort(o['LocalPort']),
    remoteAddr: canonIp(v6 ? o['RemoteAddressIP6'] : o['RemoteAddressIP4']),
    remotePort: canonPort(o['RemotePort']),
    transport: canonTransport(o['Protocol']),
    direction: outbound ? 'outbound' : 'inbound',
    pid: canonInt(o['RawProcessId']) ?? info?.pid,
    processKey: key,
    processStartMs: info?.startMs,
    image: info?.image,
    processName: str(o['ContextBaseFileName']) ?? basename(info?.image),
    sha256: info?.sha256,
    sha1: info?.sha1,
    parentName: info?.parentImage,
    ancestors: aid !== undefined && info !== undefined ? ctx.state.procs.ancestors(aid, info) : undefined,
  });
}
