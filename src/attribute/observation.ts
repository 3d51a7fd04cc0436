/**
 * Building Observations and Attributions from EDR records (the attribute stage's output).
 */
import { createHash } from 'node:crypto';
import type { Attribution, EdrConnection, Observation } from '../records.js';
import { protoNumber } from './normalize.js';

/** Attribution of one flow side from a matched record. Ambiguous matches keep only the device. */
export function attributionOf(rec: EdrConnection, side: 'orig' | 'resp', skewMs: number | undefined, ambiguous: boolean): Attribution {
  const a: Attribution = { side, deviceId: rec.deviceId, hashUnknown: ambiguous || rec.hashUnknown, source: rec.source, method: 'edr' };
  if (rec.deviceName !== undefined) a.deviceName = rec.deviceName;
  if (skewMs !== undefined) a.skewMs = skewMs;
  if (ambiguous) {
    a.ambiguous = true;
    return a;
  }
  if (rec.pid !== undefined) a.pid = rec.pid;
  if (rec.processName !== undefined) a.processName = rec.processName;
  if (rec.processPath !== undefined) a.processPath = rec.processPath;
  if (rec.sha256 !== undefined) a.sha256 = rec.sha256;
  if (rec.sha1 !== undefined) a.sha1 = rec.sha1;
  if (rec.parentName !== undefined) a.parentName = rec.parentName;
  if (rec.lineageHash !== undefined) a.lineageHash = rec.lineageHash;
  return a;
}

/** Stable id of an EDR-only observation: same record → same id. */
export function edrObsId(rec: EdrConnection): string {
  const h = createHash('sha256')
    .update(`${rec.tenant}\u0000${rec.deviceId}\u0000${rec.source}\u0000${rec.sourceEventId ?? ''}\u0000${rec.transport}\u0000`)
    .update(`${rec.localAddr}\u0000${rec.localPort}\u0000${rec.remoteAddr}\u0000${rec.remotePort}\u0000${rec.tsMs}`)
    .digest('hex');
  return `e${h.slice(0, 24)}`;
}

/**
 * An `edr-only` Observation for a connection the tap does not see (loopback to a local
 * runtime such as :11434, or off-tap traffic). The record's local side is the client when it
 * initiated; `skewMs` (EDR minus capture clock) moves the time onto the capture clock; `tenant`
 * is the connection's resolved tenant (default: the feed's label).
 */
export function edrOnlyObservation(rec: EdrConnection, skewMs = 0, tenant = rec.tenant): Observation {
  const client = attributionOf(rec, 'orig', skewMs === 0 ? undefined : skewMs, false);
  const tsUs = (rec.tsMs - skewMs) * 1000;
  const obs: Observation = {
    obsId: edrObsId(rec),
    tenant,
    kind: 'edr-only',
    update: false,
    tsUs,
    lastTsUs: tsUs,
    client,
    clientAddr: rec.localAddr,
    serverAddr: rec.remoteAddr,
    serverPort: rec.remotePort,
    proto: protoNumber(rec.transport),
    hostSource: rec.remoteNameHint !== undefined ? 'edr' : 'none',
    bytesOut: 0,
    bytesIn: 0,
  };
  if (rec.remoteNameHint !== undefined) obs.host = rec.remoteNameHint;
  return obs;
}
