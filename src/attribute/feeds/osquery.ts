/**
 * osquery result logs (docs/edr-join.md §4): `process_open_sockets` (polled snapshot: time = query
 * time, `tsKind: observed`) and `socket_events` (evented: the `time` column). Differential
 * rows (`columns` + `action`), batch (`diffResults.added`) and snapshot (`snapshot[]`) forms.
 * Hash/parent only when the query selected them (`sha256`, `parent_name`); `cmdline`, `cwd`,
 * `uid`/`username` columns are never read.
 */
import { canonHash, canonInt, canonIp, canonPort, canonTransport, epochSecondsToMs, str } from '../normalize.js';
import { buildConnection, type FeedContext, type FeedOutcome } from './context.js';

type Obj = Record<string, unknown>;

/** Rows of one result-log line with the line's shared envelope, for expansion in ingest. */
export function osqueryRows(o: Obj): Obj[] {
  const cols = o['columns'];
  if (typeof cols === 'object' && cols !== null && !Array.isArray(cols)) {
    return o['action'] === 'removed' ? [] : [cols as Obj];
  }
  const diff = o['diffResults'];
  if (typeof diff === 'object' && diff !== null) {
    const added = (diff as Obj)['added'];
    return Array.isArray(added) ? (added.filter((r) => typeof r === 'object' && r !== null) as Obj[]) : [];
  }
  const snap = o['snapshot'];
  return Array.isArray(snap) ? (snap.filter((r) => typeof r === 'object' && r !== null) as Obj[]) : [];
}

function deviceOf(env: Obj): string | undefined {
  const dec = env['decorations'];
  const fromDec = typeof dec === 'object' && dec !== null ? str((dec as Obj)['host_uuid']) : undefined;
  return fromDec ?? str(env['hostIdentifier']);
}

export function handleOsqueryRow(ctx: FeedContext, env: Obj, row: Obj): FeedOutcome {
  const evented = 'action' in row && typeof row['time'] !== 'undefined';
  if (evented && str(row['action']) !== 'connect') return 'osquery.not_connect';
  const fam = canonInt(row['family']);
  if (fam !== undefined && fam !== 2 && fam !== 10 && fam !== 30) return 'osquery.not_inet';
  const state = str(row['state']);
  if (state !== undefined && state.toUpperCase() === 'LISTEN') return 'osquery.listening';
  const dec = env['decorations'];
  const hostname = typeof dec === 'object' && dec !== null ? str((dec as Obj)['hostname']) : undefined;
  const pid = canonInt(row['pid']);
  return buildConnection(ctx, {
    source: 'osquery',
    tsMs: evented ? epochSecondsToMs(row['time']) : epochSecondsToMs(env['unixTime']),
    tsKind: evented ? 'connect' : 'observed',
    deviceId: deviceOf(env),
    deviceName: hostname ?? str(env['hostIdentifier']),
    localAddr: canonIp(row['local_address']),
    localPort: canonPort(row['local_port']),
    remoteAddr: canonIp(row['remote_address']),
    remotePort: canonPort(row['remote_port']),
    transport: canonTransport(row['protocol']),
    // A socket snapshot says nothing about who connected; socket_events `connect` is outbound.
    direction: evented ? 'outbound' : 'unknown',
    pid,
    image: str(row['path']),
    processName: str(row['name']),
    sha256: canonHash(row['sha256'], 64),
    sha1: canonHash(row['sha1'], 40),
    parentName: str(row['parent_name']),
  });
}
