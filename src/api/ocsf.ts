/**
 * llmtap alert change → OCSF 1.1.0 Detection Finding (class_uid 2004, category_uid 2
 * "Findings"), profile `host`. One event per alert change, so a SIEM that polls with
 * `format=ocsf` (or reads a push output) sees every create, update and close as its own event.
 * Tests validate every event of the demo against the published schema (test/helpers/ocsf-schema.ts).
 *
 * | OCSF attribute                      | from the alert                                          |
 * | ----------------------------------- | ------------------------------------------------------- |
 * | activity_id / activity_name         | 3 Close if status = closed; else 1 Create for the       |
 * |                                     | alert's first change, 2 Update for every later one      |
 * | type_uid / type_name                | 2004 × 100 + activity_id / "Detection Finding: <act>"   |
 * | time                                | lastSeenUs in ms                                        |
 * | severity_id / severity              | info 1, low 2, medium 3, high 4, critical 5             |
 * | status_id / status                  | open 1 New, acknowledged 2 In Progress, closed 4 Resolved|
 * | confidence_id / confidence          | the alert's confidence level (low 1, medium 2, high 3); |
 * |                                     | alerts stored without one: by heuristic (CONFIDENCE)    |
 * | count / message                     | count (deduplicated repeats) / title                    |
 * | metadata.uid / sequence             | `<alert id>:<seq>` / seq (the change sequence)          |
 * | metadata.tenant_uid / profiles      | tenant / ["host"]                                       |
 * | metadata.product                    | llmtap / llmtap / package version                       |
 * | finding_info.uid / title / types    | alert id / title / [heuristic]                          |
 * | finding_info.first/last_seen_time   | firstSeenUs / lastSeenUs in ms                          |
 * | finding_info.related_events         | [{ uid }] of related alerts (H7 → its H1 alerts)        |
 * | finding_info.analytic               | type_id 1 Rule, name = heuristic, uid = deciding rule id|
 * | device                              | uid deviceId, name deviceName, ip clientAddr, type_id 0 |
 * |                                     | (absent for fleet alerts: no single device)             |
 * | evidences[0].src_endpoint           | ip clientAddr, uid deviceId, name deviceName            |
 * | evidences[0].dst_endpoint           | hostname host, ip / port of the first connection        |
 * | evidences[0].connection_info        | direction (Lateral to a private/loopback server, else   |
 * |                                     | Outbound), protocol_num/name, protocol_ver_id 4 or 6    |
 * | evidences[0].process                | pid, name, file (when the endpoint feed gave a pid)     |
 * | evidences[0].file                   | the binary (name, SHA-256 or SHA-1) when there is no pid |
 * | observables                         | hostname, IPs, process or file name, SHA-256 or SHA-1   |
 * | unmapped                            | heuristic, provider, category, host_source, rule_id,    |
 * |                                     | bytes_out, bytes_in, community_ids; providers, hosts,   |
 * |                                     | categories (alerts spanning several, H7);               |
 * |                                     | confidence_reasons (the confidence signals)             |
 *
 * OCSF 1.1 places endpoints and connection information of a finding in `evidences`; the
 * `process` object needs a pid (or a process uid, which llmtap does not have), so without a
 * pid the binary is reported as the evidence `file`. Nothing else leaves: the response schema
 * (schemas/ocsf.ts) lists exactly these attributes.
 */
import type { Alert, AlertStatus, ConfidenceLevel, Heuristic, Severity } from '../records.js';

export const OCSF_VERSION = '1.1.0';
export const OCSF_PROFILES = ['host'] as const;

const SEVERITY_ID: Record<Severity, number> = { info: 1, low: 2, medium: 3, high: 4, critical: 5 };
const SEVERITY_NAME: Record<Severity, string> = {
  info: 'Informational', low: 'Low', medium: 'Medium', high: 'High', critical: 'Critical',
};
const STATUS: Record<AlertStatus, [number, string]> = {
  open: [1, 'New'],
  acknowledged: [2, 'In Progress'],
  closed: [4, 'Resolved'],
};
const ACTIVITY: Record<number, string> = { 1: 'Create', 2: 'Update', 3: 'Close' };

/**
 * How sure each heuristic is that the finding is what it says (OCSF: the accuracy of the rule).
 * H1 and H7 rest on an endpoint-attributed binary and an exact service rule: High. Beacon,
 * upload and lineage are statistical or threshold findings about an attributed process:
 * Medium. Shadow volume (no endpoint attribution) and warm-up learning: Low.
 */
export const CONFIDENCE: Record<Heuristic, 1 | 2 | 3> = {
  h1: 3, h7: 3, beacon: 2, upload: 2, lineage: 2, shadow_volume: 1, learning: 1, threat_intel: 3,
};
const CONFIDENCE_NAME: Record<number, string> = { 1: 'Low', 2: 'Medium', 3: 'High' };
const CONFIDENCE_LEVEL: Record<ConfidenceLevel, 1 | 2 | 3> = { low: 1, medium: 2, high: 3 };
const PROTO_NAME: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'ipv6-icmp', 132: 'sctp' };

/** RFC 1123 host name, as OCSF's hostname_t. */
const HOSTNAME = /^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/;

const usToMs = (us: number): number => Math.floor(us / 1000);

/** Private, loopback, link-local or shared address space (the server is inside the network). */
export function isInternalAddr(addr: string): boolean {
  if (addr.includes(':')) {
    const a = addr.toLowerCase();
    return a === '::1' || /^f[cd]/.test(a) || /^fe[89ab]/.test(a);
  }
  const o = addr.split('.').map(Number);
  const [a = -1, b = -1] = o;
  return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127);
}

export interface OcsfProduct {
  version: string;
}

/** activity_id of one alert change: Close, else Create for its first change, else Update. */
export function activityOf(a: Alert): 1 | 2 | 3 {
  if (a.status === 'closed') return 3;
  return a.change === 'create' ? 1 : 2;
}

interface Observable {
  name: string;
  type_id: number;
  type: string;
  value: string;
}

/** Builds the plain object; the route's response schema decides what is serialized. */
export function toOcsfFinding(a: Alert, product: OcsfProduct): Record<string, unknown> {
  const activityId = activityOf(a);
  const [statusId, statusName] = STATUS[a.status];
  const observables: Observable[] = [];
  const evidence: Record<string, unknown> = {};

  if (a.clientAddr !== undefined || a.deviceId !== undefined) {
    const src: Record<string, unknown> = {};
    if (a.clientAddr !== undefined) {
      src['ip'] = a.clientAddr;
      observables.push({ name: 'evidences.src_endpoint.ip', type_id: 2, type: 'IP Address', value: a.clientAddr });
    }
    if (a.deviceId !== undefined) src['uid'] = a.deviceId;
    if (a.deviceName !== undefined) src['name'] = a.deviceName;
    evidence['src_endpoint'] = src;
  }
  const dst: Record<string, unknown> = {};
  if (a.host !== undefined && HOSTNAME.test(a.host)) {
    dst['hostname'] = a.host;
    observables.push({ name: 'evidences.dst_endpoint.hostname', type_id: 1, type: 'Hostname', value: a.host });
  }
  if (a.server !== undefined) {
    dst['ip'] = a.server.addr;
    if (a.server.port > 0) dst['port'] = a.server.port;
    observables.push({ name: 'evidences.dst_endpoint.ip', type_id: 2, type: 'IP Address', value: a.server.addr });
    const v6 = a.server.addr.includes(':');
    const lateral = isInternalAddr(a.server.addr);
    const conn: Record<string, unknown> = {
      direction_id: lateral ? 3 : 2,
      direction: lateral ? 'Lateral' : 'Outbound',
      protocol_num: a.server.proto,
      protocol_ver_id: v6 ? 6 : 4,
      protocol_ver: v6 ? 'Internet Protocol version 6 (IPv6)' : 'Internet Protocol version 4 (IPv4)',
    };
    const pn = PROTO_NAME[a.server.proto];
    if (pn !== undefined) conn['protocol_name'] = pn;
    evidence['connection_info'] = conn;
  }
  if (Object.keys(dst).length > 0) evidence['dst_endpoint'] = dst;

  if (a.processName !== undefined) {
    const file: Record<string, unknown> = { name: a.processName, type_id: 1, type: 'Regular File' };
    // The binary identity, typed: OCSF fingerprint algorithm 3 = SHA-256, 2 = SHA-1 (a feed without SHA-256).
    const hash = a.sha256 !== undefined ? { algorithm_id: 3, algorithm: 'SHA-256', value: a.sha256 } : a.sha1 !== undefined ? { algorithm_id: 2, algorithm: 'SHA-1', value: a.sha1 } : undefined;
    if (hash !== undefined) file['hashes'] = [hash];
    let base: string;
    if (a.pid !== undefined) {
      evidence['process'] = { pid: a.pid, name: a.processName, file };
      observables.push({ name: 'evidences.process.name', type_id: 9, type: 'Process Name', value: a.processName });
      base = 'evidences.process.file';
    } else {
      evidence['file'] = file;
      observables.push({ name: 'evidences.file.name', type_id: 7, type: 'File Name', value: a.processName });
      base = 'evidences.file';
    }
    if (hash !== undefined) observables.push({ name: `${base}.hashes.value`, type_id: 8, type: 'Hash', value: hash.value });
  }

  const device: Record<string, unknown> = { type_id: 0, type: 'Unknown' };
  if (a.deviceId !== undefined) device['uid'] = a.deviceId;
  if (a.deviceName !== undefined) device['name'] = a.deviceName;
  if (a.clientAddr !== undefined) device['ip'] = a.clientAddr;
  const unmapped: Record<string, unknown> = {
    heuristic: a.heuristic,
    bytes_out: a.evidence.bytesOut,
    bytes_in: a.evidence.bytesIn,
    community_ids: a.evidence.communityIds,
  };
  if (a.provider !== undefined) unmapped['provider'] = a.provider;
  if (a.category !== undefined) unmapped['category'] = a.category;
  if (a.host !== undefined) unmapped['host'] = a.host;
  if (a.providers !== undefined) unmapped['providers'] = a.providers;
  if (a.hosts !== undefined) unmapped['hosts'] = a.hosts;
  if (a.categories !== undefined) unmapped['categories'] = a.categories;
  if (a.evidence.hostSource !== undefined) unmapped['host_source'] = a.evidence.hostSource;
  if (a.evidence.ruleId !== undefined) unmapped['rule_id'] = a.evidence.ruleId;
  if (a.confidence !== undefined) unmapped['confidence_reasons'] = a.confidence.reasons.map((r) => r.signal);
  const analytic: Record<string, unknown> = { type_id: 1, type: 'Rule', name: a.heuristic };
  if (a.evidence.ruleId !== undefined) analytic['uid'] = a.evidence.ruleId;
  const seq = a.seq ?? 0;
  const confidenceId = a.confidence !== undefined ? CONFIDENCE_LEVEL[a.confidence.level] : CONFIDENCE[a.heuristic];
  const out: Record<string, unknown> = {
    class_uid: 2004,
    class_name: 'Detection Finding',
    category_uid: 2,
    category_name: 'Findings',
    activity_id: activityId,
    activity_name: ACTIVITY[activityId],
    type_uid: 2004 * 100 + activityId,
    type_name: `Detection Finding: ${ACTIVITY[activityId] ?? 'Other'}`,
    time: usToMs(a.lastSeenUs),
    severity_id: SEVERITY_ID[a.severity],
    severity: SEVERITY_NAME[a.severity],
    status_id: statusId,
    status: statusName,
    confidence_id: confidenceId,
    confidence: CONFIDENCE_NAME[confidenceId],
    count: a.count,
    message: a.title,
    metadata: {
      version: OCSF_VERSION,
      profiles: [...OCSF_PROFILES],
      uid: `${a.id}:${seq}`,
      sequence: seq,
      tenant_uid: a.tenant,
      product: { name: 'llmtap', vendor_name: 'llmtap', version: product.version },
    },
    finding_info: {
      uid: a.id,
      title: a.title,
      types: [a.heuristic],
      first_seen_time: usToMs(a.firstSeenUs),
      last_seen_time: usToMs(a.lastSeenUs),
      ...(a.related !== undefined && a.related.length > 0 ? { related_events: a.related.map((uid) => ({ uid })) } : {}),
      analytic,
    },
    // a fleet alert (H7) is about no single device: OCSF's device needs an identifier
    ...(Object.keys(device).length > 2 ? { device } : {}),
    evidences: Object.keys(evidence).length > 0 ? [evidence] : [],
    unmapped,
  };
  if (observables.length > 0) out['observables'] = observables;
  return out;
}
