/**
 * Records → the API's snake_case JSON. These build plain objects; the response schemas decide
 * what actually leaves (fields not listed there are dropped by the serializer).
 */
import type { Alert } from '../records.js';
import type { AllowlistEntry, Candidate, ObservationRow } from './deps.js';
import { OBSERVATION_FIELDS } from '../store/types.js';

const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString();

/** Copies `value` under `key` only when defined (exactOptionalPropertyTypes-friendly). */
function put(o: Record<string, unknown>, key: string, value: unknown): void {
  if (value !== undefined) o[key] = value;
}

/** camelCase → snake_case (the API's one naming: the heuristics' own `detail` keys too). */
export function snakeCase(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function snakeKeys(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[snakeCase(k)] = v;
  return out;
}

export function presentAlert(a: Alert): Record<string, unknown> {
  const evidence: Record<string, unknown> = {
    flow_ids: a.evidence.flowIds,
    community_ids: a.evidence.communityIds,
    obs_ids: a.evidence.obsIds,
    bytes_out: a.evidence.bytesOut,
    bytes_in: a.evidence.bytesIn,
    detail: snakeKeys(a.evidence.detail),
  };
  put(evidence, 'host', a.evidence.host);
  put(evidence, 'host_source', a.evidence.hostSource);
  put(evidence, 'rule_id', a.evidence.ruleId);
  if (a.evidence.spread !== undefined) {
    evidence['spread'] = a.evidence.spread.map((d) => {
      const o: Record<string, unknown> = { device_id: d.deviceId, providers: d.providers, hosts: d.hosts, first_seen: iso(d.firstSeenUs) };
      put(o, 'device_name', d.deviceName);
      return o;
    });
  }
  const o: Record<string, unknown> = {
    id: a.id,
    heuristic: a.heuristic,
    severity: a.severity,
    status: a.status,
    title: a.title,
    count: a.count,
    first_seen: iso(a.firstSeenUs),
    last_seen: iso(a.lastSeenUs),
    first_seen_us: a.firstSeenUs,
    last_seen_us: a.lastSeenUs,
    evidence,
  };
  put(o, 'seq', a.seq);
  put(o, 'device_id', a.deviceId);
  put(o, 'device_name', a.deviceName);
  put(o, 'client_addr', a.clientAddr);
  put(o, 'process_name', a.processName);
  put(o, 'sha256', a.sha256);
  put(o, 'sha1', a.sha1);
  put(o, 'provider', a.provider);
  put(o, 'category', a.category);
  put(o, 'host', a.host);
  put(o, 'providers', a.providers);
  put(o, 'categories', a.categories);
  put(o, 'hosts', a.hosts);
  put(o, 'related', a.related);
  if (a.confidence !== undefined) {
    o['confidence'] = {
      level: a.confidence.level,
      score: a.confidence.score,
      reasons: a.confidence.reasons.map((r) => ({ signal: r.signal, weight: r.weight, note: r.note })),
    };
  }
  return o;
}

/** A stored observation as the API serves it: the fields the declaration gives an API name. */
export function presentObservation(r: ObservationRow): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of OBSERVATION_FIELDS) {
    if (!('api' in f)) continue;
    const x = r[f.field];
    if (x !== undefined) o[f.api] = f.type === 'time' ? iso(x as number) : x;
  }
  return o;
}

export function presentAllowlist(e: AllowlistEntry): Record<string, unknown> {
  const o: Record<string, unknown> = {
    id: String(e.id),
    process_name: e.processName,
    justification: e.justification,
    origin: e.origin,
    created: new Date(e.createdAtMs).toISOString(),
  };
  put(o, 'binary_hash', e.binaryHash);
  put(o, 'device_group', e.deviceGroup);
  put(o, 'provider', e.provider);
  put(o, 'category', e.category);
  if (e.expiresAtMs !== undefined) o['expires'] = new Date(e.expiresAtMs).toISOString();
  return o;
}

export function presentCandidate(c: Candidate): Record<string, unknown> {
  return {
    id: String(c.id),
    process_name: c.processName,
    provider: c.provider,
    category: c.category,
    device_count: c.deviceCount,
    count: c.count,
    status: c.status,
    first_seen: iso(c.firstSeenUs),
    last_seen: iso(c.lastSeenUs),
  };
}
