/**
 * llmtap's own NDJSON feed (schema in ../README.md): the field names of `EdrConnection` v1.
 * Values are re-canonicalized like any other source; `tenant` comes from the feed credential
 * (a record's own `tenant` is ignored) and the lineage hash is computed here from the optional
 * `lineage` name list, since only the sensor holds the tenant's key.
 */
import { canonHash, canonInt, canonIp, canonPort, canonTransport, parseTimeMs, str } from '../normalize.js';
import { buildConnection, type FeedContext, type FeedOutcome } from './context.js';
import type { EdrConnection } from '../../records.js';

type Obj = Record<string, unknown>;

const TS_KINDS = new Set(['connect', 'accept', 'observed', 'close']);
const DIRECTIONS = new Set(['outbound', 'inbound', 'unknown']);

export function isLlmtapRecord(o: Obj): boolean {
  return o['v'] === 1 && 'localAddr' in o && 'remoteAddr' in o;
}

export function handleLlmtap(ctx: FeedContext, o: Obj): FeedOutcome {
  const tsKind = String(o['tsKind'] ?? 'connect');
  const direction = String(o['direction'] ?? 'unknown');
  if (!TS_KINDS.has(tsKind)) return 'llmtap.bad_ts_kind';
  if (!DIRECTIONS.has(direction)) return 'llmtap.bad_direction';
  const lin = o['lineage'];
  const ancestors = Array.isArray(lin) ? lin.filter((x): x is string => typeof x === 'string' && x !== '') : undefined;
  const parent = str(o['parentName']);
  return buildConnection(ctx, {
    source: 'llmtap',
    sourceEventId: str(o['sourceEventId']),
    tsMs: typeof o['tsMs'] === 'number' ? o['tsMs'] : parseTimeMs(o['tsMs']),
    tsKind: tsKind as EdrConnection['tsKind'],
    deviceId: str(o['deviceId']),
    deviceName: str(o['deviceName']),
    localAddr: canonIp(o['localAddr']),
    localPort: canonPort(o['localPort']),
    remoteAddr: canonIp(o['remoteAddr']),
    remotePort: canonPort(o['remotePort']),
    transport: canonTransport(o['transport']),
    direction: direction as EdrConnection['direction'],
    pid: canonInt(o['pid']),
    processKey: str(o['processKey']),
    processStartMs: typeof o['processStartMs'] === 'number' ? o['processStartMs'] : undefined,
    image: str(o['processPath']),
    processName: str(o['processName']),
    sha256: canonHash(o['sha256'], 64),
    sha1: canonHash(o['sha1'], 40),
    fileId: str(o['fileId']),
    parentName: parent,
    ancestors: ancestors ?? (parent !== undefined ? [parent] : undefined),
    remoteNameHint: str(o['remoteNameHint']),
  });
}
