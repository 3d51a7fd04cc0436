/**
 * Elastic Defend (Elastic Endpoint) network events (docs/edr-join.md §6), ECS. Network events have
 * no hash: `endpoint.events.process` documents fill the process table by `process.entity_id`
 * (hash, parent, ancestry). egress → `source` is local; ingress → `destination` is local,
 * confirmed with `host.ip` when present. `process.command_line`, `process.args`, `user.*`,
 * `group.*` are never read.
 */
import { basename, canonHash, canonInt, canonIp, canonPort, canonTransport, parseTimeMs, str } from '../normalize.js';
import { LINEAGE_DEPTH } from '../lineage.js';
import { buildConnection, type FeedContext, type FeedOutcome } from './context.js';
import { dig } from './win-event.js';

type Obj = Record<string, unknown>;

export function elasticDataset(o: Obj): string | undefined {
  return str(dig(o, 'event.dataset')) ?? str(dig(o, 'data_stream.dataset'));
}

function hostId(o: Obj): string | undefined {
  return (str(dig(o, 'host.id')) ?? str(dig(o, 'host.name')))?.toLowerCase();
}

export function elasticPrepass(ctx: FeedContext, o: Obj): void {
  if (elasticDataset(o) !== 'endpoint.events.process') return;
  const device = hostId(o);
  const key = str(dig(o, 'process.entity_id'));
  if (device === undefined || key === undefined) return;
  const image = str(dig(o, 'process.executable'));
  const sha256 = canonHash(dig(o, 'process.hash.sha256'), 64);
  const sha1 = canonHash(dig(o, 'process.hash.sha1'), 40);
  const parentKey = str(dig(o, 'process.parent.entity_id'));
  const parentImage = str(dig(o, 'process.parent.executable')) ?? str(dig(o, 'process.parent.name'));
  const startMs = parseTimeMs(dig(o, 'process.start'));
  ctx.state.procs.set(device, key, {
    ...(image !== undefined ? { image } : {}),
    ...(sha256 !== undefined ? { sha256 } : {}),
    ...(sha1 !== undefined ? { sha1 } : {}),
    ...(parentKey !== undefined ? { parentKey } : {}),
    ...(parentImage !== undefined ? { parentImage } : {}),
    ...(startMs !== undefined ? { startMs } : {}),
  });
}

export function handleElastic(ctx: FeedContext, o: Obj): FeedOutcome {
  const ds = elasticDataset(o);
  if (ds === 'endpoint.events.process') return 'elastic_defend.process_event';
  if (ds !== 'endpoint.events.network') return 'elastic_defend.unsupported_dataset';
  const action = str(dig(o, 'event.action'));
  if (action !== 'connection_attempted' && action !== 'connection_accepted') return 'elastic_defend.not_connection';
  const device = hostId(o);
  const src = { ip: canonIp(dig(o, 'source.ip')), port: canonPort(dig(o, 'source.port')) };
  const dst = { ip: canonIp(dig(o, 'destination.ip')), port: canonPort(dig(o, 'destination.port')) };
  let ingress = str(dig(o, 'network.direction')) === 'ingress' || action === 'connection_accepted';
  const hostIps = dig(o, 'host.ip');
  if (Array.isArray(hostIps)) {
    const own = new Set(hostIps.map((x) => canonIp(x)));
    if (own.has(dst.ip) && !own.has(src.ip)) ingress = true;
    else if (own.has(src.ip) && !own.has(dst.ip)) ingress = false;
  }
  const local = ingress ? dst : src;
  const remote = ingress ? src : dst;
  const key = str(dig(o, 'process.entity_id'));
  const info = device !== undefined && key !== undefined ? ctx.state.procs.get(device, key) : undefined;
  // process.Ext.ancestry: ancestor entity ids, nearest first → names through the table
  const ancestry = dig(o, 'process.Ext.ancestry');
  let ancestors: string[] | undefined;
  if (Array.isArray(ancestry) && device !== undefined) {
    ancestors = [];
    for (const id of ancestry.slice(0, LINEAGE_DEPTH)) {
      const n = typeof id === 'string' ? basename(ctx.state.procs.get(device, id)?.image) : undefined;
      if (n === undefined) break;
      ancestors.push(n);
    }
    if (ancestors.length === 0) ancestors = undefined;
  }
  return buildConnection(ctx, {
    source: 'elastic_defend',
    sourceEventId: str(dig(o, 'event.id')),
    tsMs: parseTimeMs(o['@timestamp']),
    tsKind: ingress ? 'accept' : 'connect',
    deviceId: device,
    deviceName: str(dig(o, 'host.name')),
    localAddr: local.ip,
    localPort: local.port,
    remoteAddr: remote.ip,
    remotePort: remote.port,
    transport: canonTransport(dig(o, 'network.transport')),
    direction: ingress ? 'inbound' : 'outbound',
    pid: canonInt(dig(o, 'process.pid')),
    processKey: key,
    processStartMs: info?.startMs,
    image: str(dig(o, 'process.executable')) ?? info?.image,
    processName: str(dig(o, 'process.name')),
    sha256: info?.sha256,
    sha1: info?.sha1,
    parentName: str(dig(o, 'process.parent.name')) ?? basename(info?.parentImage),
    ancestors: ancestors ?? (device !== undefined && info !== undefined ? ctx.state.procs.ancestors(device, info) : undefined),
  });
}
