/**
 * Tetragon (docs/edr-join.md §7.1): current `process_kprobe` on `tcp_connect` (local side =
 * `args[0].sock_arg.saddr/sport`) and the 2022 `process_connect` shape (top-level
 * `source_ip`/`destination_ip`, the source is local). `process_exec` fills the process table by
 * `exec_id` for lineage. `arguments`, `cwd`, `uid`/`auid` are never read.
 */
import { basename, canonInt, canonIp, canonPort, canonTransport, parseTimeMs, str } from '../normalize.js';
import { buildConnection, type FeedContext, type FeedOutcome } from './context.js';
import { isObj } from './win-event.js';

type Obj = Record<string, unknown>;

export const TETRAGON_KEYS = ['process_connect', 'process_kprobe', 'process_exec', 'process_exit', 'process_close', 'process_listen'] as const;

function procOf(o: Obj): Obj | undefined {
  const p = o['process'];
  return isObj(p) ? p : undefined;
}

export function tetragonPrepass(ctx: FeedContext, o: Obj): void {
  const ex = o['process_exec'];
  if (!isObj(ex)) return;
  const node = str(o['node_name'])?.toLowerCase();
  const p = procOf(ex);
  const parent = isObj(ex['parent']) ? ex['parent'] : undefined;
  const key = p !== undefined ? str(p['exec_id']) : undefined;
  if (node === undefined || p === undefined || key === undefined) return;
  const image = str(p['binary']);
  const parentKey = str(p['parent_exec_id']);
  const parentImage = parent !== undefined ? str(parent['binary']) : undefined;
  const startMs = parseTimeMs(p['start_time']);
  ctx.state.procs.set(node, key, {
    ...(image !== undefined ? { image } : {}),
    ...(parentKey !== undefined ? { parentKey } : {}),
    ...(parentImage !== undefined ? { parentImage } : {}),
    ...(startMs !== undefined ? { startMs } : {}),
  });
}

export function handleTetragon(ctx: FeedContext, o: Obj): FeedOutcome {
  const node = str(o['node_name'])?.toLowerCase();
  let ev: Obj;
  let local: { ip: string | undefined; port: number };
  let remote: { ip: string | undefined; port: number };
  let transport: ReturnType<typeof canonTransport>;
  const pc = o['process_connect'];
  const pk = o['process_kprobe'];
  if (isObj(pc)) {
    ev = pc;
    local = { ip: canonIp(pc['source_ip']), port: canonPort(pc['source_port']) };
    remote = { ip: canonIp(pc['destination_ip']), port: canonPort(pc['destination_port']) };
    transport = canonTransport(pc['protocol'] ?? 'tcp');
  } else if (isObj(pk)) {
    if (str(pk['function_name']) !== 'tcp_connect') return 'tetragon.not_connect';
    const args = pk['args'];
    const a0 = Array.isArray(args) ? (args[0] as unknown) : undefined;
    const sock = isObj(a0) && isObj(a0['sock_arg']) ? a0['sock_arg'] : undefined;
    if (sock === undefined) return 'tetragon.no_sock_arg';
    ev = pk;
    local = { ip: canonIp(sock['saddr']), port: canonPort(sock['sport']) };
    remote = { ip: canonIp(sock['daddr']), port: canonPort(sock['dport']) };
    transport = canonTransport(sock['protocol'] ?? 'tcp');
  } else if (isObj(o['process_exec'])) {
    return 'tetragon.process_exec';
  } else {
    return 'tetragon.unsupported_event';
  }
  const p = procOf(ev);
  const parent = isObj(ev['parent']) ? ev['parent'] : undefined;
  const key = p !== undefined ? str(p['exec_id']) : undefined;
  const image = p !== undefined ? str(p['binary']) : undefined;
  const parentImage = parent !== undefined ? str(parent['binary']) : undefined;
  const pkey = p !== undefined ? str(p['parent_exec_id']) : undefined;
  const ancestors = node !== undefined
    ? ctx.state.procs.ancestors(node, { ...(parentImage !== undefined ? { parentImage } : {}), ...(pkey !== undefined ? { parentKey: pkey } : {}) })
    : undefined;
  return buildConnection(ctx, {
    source: 'tetragon',
    tsMs: parseTimeMs(o['time']),
    tsKind: 'connect',
    deviceId: node,
    deviceName: node,
    localAddr: local.ip,
    localPort: local.port,
    remoteAddr: remote.ip,
    remotePort: remote.port,
    transport,
    direction: 'outbound',
    pid: p !== undefined ? canonInt(p['pid']) : undefined,
    processKey: key,
    processStartMs: p !== undefined ? parseTimeMs(p['start_time']) : undefined,
    image,
    parentName: basename(parentImage),
    ancestors,
  });
}
