/**
 * Deduplication: one open (not closed) alert per (tenant, heuristic, device, process,
 * provider) — H7 per binary hash. A repeat updates count, last seen and evidence instead of
 * creating an alert. Counting is by observation: the store's `contributions` table remembers
 * which obsId already counted toward which alert, so a late-join update or a replay of the
 * same input after a crash never counts twice.
 *
 * Alert ids are stable: a hash of tenant, dedup key and the first triggering observation's
 * capture time, so a replay recreates the same id.
 */
import { createHash } from 'node:crypto';
import { CATEGORY_ORDER, type Alert, type ConfidenceReason, type Observation, type Severity, type SpreadDevice } from '../records.js';
import { alertDedupKey } from './alert-key.js';
import { mergeConfidence } from './confidence.js';
import { binHash, refOf, type EvidenceRef, type Hit, type SpreadHit } from './rule.js';
import type { DetectStore } from './sink.js';

/** Evidence lists keep the most recent entries only. */
export const EVIDENCE_MAX = 16;
const RELATED_MAX = 64;
/** Devices kept in a spread's per-device evidence, and destinations per device. */
export const SPREAD_DEVICES_MAX = 1024;
const SPREAD_DESTINATIONS_MAX = 16;

const SEVERITY_RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

export function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b;
}

export function stableAlertId(tenant: string, dedupKey: string, firstSeenUs: number, salt = ''): string {
  const h = createHash('sha256').update(`${tenant}\0${dedupKey}\0${firstSeenUs}\0${salt}`).digest('hex');
  return `al_${h.slice(0, 24)}`;
}

function pushBounded<T>(list: T[], v: T): void {
  if (list.includes(v)) return;
  list.push(v);
  if (list.length > EVIDENCE_MAX) list.splice(0, list.length - EVIDENCE_MAX);
}

/** Builds the alert skeleton a hit describes for the observation that triggered it. */
function skeleton(tenant: string, obs: Observation, hit: Hit, id: string): Alert {
  const c = obs.client;
  const v = obs.verdict;
  const a: Alert = {
    id,
    tenant,
    heuristic: hit.heuristic,
    severity: hit.severity,
    status: 'open',
    title: hit.title,
    count: 0,
    firstSeenUs: obs.tsUs,
    lastSeenUs: obs.tsUs,
    evidence: { flowIds: [], communityIds: [], obsIds: [], hostSource: obs.hostSource, bytesOut: 0, bytesIn: 0, detail: {} },
  };
  if (!hit.fleet) {
    if (c?.deviceId !== undefined) a.deviceId = c.deviceId;
    if (c?.deviceName !== undefined) a.deviceName = c.deviceName;
    a.clientAddr = obs.clientAddr;
    if (c?.pid !== undefined) a.pid = c.pid;
  }
  if (obs.serverAddr !== '') a.server = { addr: obs.serverAddr, port: obs.serverPort, proto: obs.proto };
  if (c?.processName !== undefined) a.processName = c.processName;
  const h = binHash(obs);
  if (h !== undefined) a[h.kind] = h.hash;
  if (v) {
    a.provider = v.provider;
    a.category = v.category;
    a.evidence.ruleId = v.ruleId;
  }
  if (obs.host !== undefined) {
    a.host = obs.host;
    a.evidence.host = obs.host;
  }
  return a;
}

function addUnique<T>(list: T[], v: T, max = Number.POSITIVE_INFINITY): void {
  if (!list.includes(v) && list.length < max) list.push(v);
}

/**
 * Merges a fleet hit's per-device destinations into the alert (union per device, kept across
 * updates) and makes the alert's destination fields name the whole spread: `providers`,
 * `hosts` and `categories` in order of first sighting, `provider` and `host` those lists
 * comma-separated, `category` the highest-precedence category reached.
 */
function mergeSpread(a: Alert, hits: SpreadHit[]): void {
  const list: SpreadDevice[] = a.evidence.spread ?? [];
  const providers = [...(a.providers ?? [])];
  const hosts = [...(a.hosts ?? [])];
  const categories = [...(a.categories ?? [])];
  for (const h of [...hits].sort((x, y) => x.firstSeenUs - y.firstSeenUs)) {
    let d = list.find((x) => x.deviceId === h.deviceId);
    if (!d) {
      if (list.length >= SPREAD_DEVICES_MAX) continue;
      d = { deviceId: h.deviceId, providers: [], hosts: [], firstSeenUs: h.firstSeenUs };
      if (h.deviceName !== undefined) d.deviceName = h.deviceName;
      list.push(d);
    }
    d.firstSeenUs = Math.min(d.firstSeenUs, h.firstSeenUs);
    for (const x of h.destinations) {
      addUnique(d.providers, x.provider, SPREAD_DESTINATIONS_MAX);
      addUnique(d.hosts, x.host, SPREAD_DESTINATIONS_MAX);
      addUnique(providers, x.provider);
      addUnique(hosts, x.host);
      addUnique(categories, x.category);
    }
  }
  list.sort((x, y) => x.firstSeenUs - y.firstSeenUs);
  a.evidence.spread = list;
  a.providers = providers.slice(0, SPREAD_DESTINATIONS_MAX);
  a.hosts = hosts.slice(0, SPREAD_DESTINATIONS_MAX);
  a.categories = categories;
  a.provider = a.providers.join(', ');
  a.host = a.hosts.join(', ');
  a.evidence.host = a.host;
  const top = CATEGORY_ORDER.find((c) => categories.includes(c));
  if (top !== undefined) a.category = top;
}

/**
 * Confidence (see confidence.ts) is folded in on every create and update: the signals of the
 * connection that triggered the hit join the alert's, and `repeated` follows its count.
 *
 * Updates are coalesced per batch: a created alert is written at once (H7 must find the H1
 * alerts it links), later updates stay in memory and are written once, inside the same
 * transaction as their `contributions` rows, just before the store commits (and before any
 * API read or write, so an analyst's status change is never overwritten by a stale copy).
 * A busy beacon thus costs one change-log row per batch instead of one per connection, and
 * a SIEM still sees every committed state of every alert exactly once.
 */
export class Deduper {
  private readonly pending = new Map<string, { alert: Alert; key: string }>();

  constructor(private readonly store: DetectStore) {
    store.onBeforeCommit(() => this.writePending());
  }

  /** Writes coalesced updates through the store (its change log gets one row per alert). */
  writePending(): void {
    if (this.pending.size === 0) return;
    const list = [...this.pending.values()];
    this.pending.clear();
    for (const p of list) this.store.upsertAlert(p.alert, p.key);
  }

  /** Creates or updates the alert for `hit`; undefined when the observation(s) already counted. */
  emit(tenant: string, obs: Observation, hit: Hit, signals: ConfidenceReason[] = []): { alert: Alert; created: boolean } | undefined {
    const probe = skeleton(tenant, obs, hit, '');
    const keyFields = hit.binHash !== undefined ? { ...probe, binHash: hit.binHash } : probe;
    const key = alertDedupKey(keyFields);
    const refs: EvidenceRef[] = [...(hit.window ?? []).filter((r) => r.obsId !== obs.obsId), refOf(obs)];

    const pkey = `${tenant}\0${key}`;
    let alert = this.pending.get(pkey)?.alert ?? this.store.openAlertByKey(tenant, key);
    let created = false;
    if (!alert) {
      let id = stableAlertId(tenant, key, obs.tsUs);
      const clash = this.store.peekAlert(tenant, id);
      if (clash) {
        // A closed alert with the same key and first sighting: this is a replay of what it
        // already counted, unless the observation is new to it.
        if (this.store.hasContributed(id, obs.obsId)) return undefined;
        id = stableAlertId(tenant, key, obs.tsUs, obs.obsId);
        if (this.store.peekAlert(tenant, id)) return undefined;
      }
      alert = skeleton(tenant, obs, hit, id);
      created = true;
    }

    let added = 0;
    const ev = alert.evidence;
    // Window refs at or before the alert's last sighting were offered to it already (when the
    // alert was created or updated); only newer ones and the current observation are checked.
    const since = created ? Number.NEGATIVE_INFINITY : alert.lastSeenUs;
    for (const r of refs) {
      if (r.tsUs <= since && r.obsId !== obs.obsId) continue;
      if (!this.store.contribute(alert.id, r.obsId, r.tsUs)) continue;
      added++;
      ev.bytesOut += r.bytesOut;
      ev.bytesIn += r.bytesIn;
      pushBounded(ev.obsIds, r.obsId);
      if (r.flowId !== undefined) pushBounded(ev.flowIds, r.flowId);
      if (r.communityId !== undefined) pushBounded(ev.communityIds, r.communityId);
      if (r.tsUs < alert.firstSeenUs) alert.firstSeenUs = r.tsUs;
      if (r.tsUs > alert.lastSeenUs) alert.lastSeenUs = r.tsUs;
    }
    if (added === 0 && !created) return undefined;
    alert.count += added;
    alert.severity = maxSeverity(alert.severity, hit.severity);
    alert.title = hit.title;
    ev.detail = { ...ev.detail, ...hit.detail };
    if (hit.related && hit.related.length > 0) {
      alert.related = [...new Set([...(alert.related ?? []), ...hit.related])].slice(0, RELATED_MAX);
    }
    if (hit.spread) mergeSpread(alert, hit.spread);
    hit.describe?.(alert);
    alert.confidence = mergeConfidence(alert.confidence, signals, alert.count);
    if (created) return { alert: this.store.upsertAlert(alert, key), created };
    this.pending.set(pkey, { alert, key });
    return { alert, created };
  }
}
