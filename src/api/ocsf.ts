/**
 * llmtap alert → OCSF Detection Finding (class_uid 2004, category_uid 2 "Findings"), schema
 * version 1.1.0. One object per alert change, so a SIEM that polls with `format=ocsf` sees every
 * create and update as its own finding event.
 *
 * | OCSF attribute                     | from the alert                                          |
 * | ---------------------------------- | ------------------------------------------------------- |
 * | class_uid / category_uid           | 2004 / 2                                                |
 * | activity_id                        | 3 Close if status = closed; 1 Create if count = 1 and    |
 * |                                    | status = open (first sighting); else 2 Update            |
 * | type_uid                           | class_uid × 100 + activity_id                           |
 * | time                               | lastSeenUs in ms                                        |
 * | severity_id                        | info 1, low 2, medium 3, high 4, critical 5             |
 * | status_id                          | open 1 New, acknowledged 2 In Progress, closed 4 Resolved|
 * | count                              | count (deduplicated repeats)                            |
 * | message                            | title                                                   |
 * | metadata.uid / sequence            | `<alert id>:<seq>` / seq (the change sequence)           |
 * | metadata.tenant_uid                | tenant                                                  |
 * | metadata.product                   | llmtap / llmtap / version                               |
 * | finding_info.uid / title           | alert id / title                                        |
 * | finding_info.types                 | [heuristic]                                             |
 * | finding_info.first/last_seen_time  | firstSeenUs / lastSeenUs in ms                          |
 * | finding_info.related_events_uids   | related alert ids                                       |
 * | finding_info.analytic              | type_id 1 Rule, name = heuristic, uid = deciding rule id|
 * | device                             | uid deviceId, name deviceName, ip clientAddr, type_id 0 |
 * | evidences[0].process               | name processName; file.hashes SHA-256 (algorithm_id 3)  |
 * | evidences[0].dst_endpoint.hostname | host                                                    |
 * | unmapped                           | heuristic, provider, category, host_source, rule_id,    |
 * |                                    | bytes_out, bytes_in, community_ids                      |
 *
 * Nothing else leaves: the response schema lists exactly these attributes.
 */
import type { Alert, AlertStatus, Severity } from '../records.js';

export const OCSF_VERSION = '1.1.0';

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

const usToMs = (us: number): number => Math.floor(us / 1000);

export interface OcsfProduct {
  version: string;
}

/** Builds the plain object; the route's response schema decides what is serialized. */
export function toOcsfFinding(a: Alert, product: OcsfProduct): Record<string, unknown> {
  const activityId = a.status === 'closed' ? 3 : a.count === 1 && a.status === 'open' ? 1 : 2;
  const [statusId, statusName] = STATUS[a.status];
  const process: Record<string, unknown> = {};
  if (a.processName !== undefined) process['name'] = a.processName;
  if (a.sha256 !== undefined) {
    process['file'] = {
      type_id: 1,
      ...(a.processName !== undefined ? { name: a.processName } : {}),
      hashes: [{ algorithm_id: 3, algorithm: 'SHA-256', value: a.sha256 }],
    };
  }
  const evidence: Record<string, unknown> = {};
  if (Object.keys(process).length > 0) evidence['process'] = process;
  if (a.host !== undefined) evidence['dst_endpoint'] = { hostname: a.host };
  const device: Record<string, unknown> = { type_id: 0 };
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
  if (a.evidence.hostSource !== undefined) unmapped['host_source'] = a.evidence.hostSource;
  if (a.evidence.ruleId !== undefined) unmapped['rule_id'] = a.evidence.ruleId;
  const analytic: Record<string, unknown> = { type_id: 1, type: 'Rule', name: a.heuristic };
  if (a.evidence.ruleId !== undefined) analytic['uid'] = a.evidence.ruleId;
  const seq = a.seq ?? 0;
  return {
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
    count: a.count,
    message: a.title,
    metadata: {
      version: OCSF_VERSION,
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
      ...(a.related !== undefined && a.related.length > 0 ? { related_events_uids: a.related } : {}),
      analytic,
    },
    device,
    evidences: Object.keys(evidence).length > 0 ? [evidence] : [],
    unmapped,
  };
}
