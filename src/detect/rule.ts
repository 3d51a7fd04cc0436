/**
 * The shape every heuristic has: it looks at one classified, attributed observation of one
 * tenant and may emit hits; the detector turns hits into deduplicated alerts. A rule keeps
 * its own windows (keyed by tenant first, so nothing is correlated across tenants) and prunes
 * them on `tick`.
 */
import type { RuleCounter } from './counters.js';
import { schemaDefaults, type SensorConfig } from '../config.js';
import type { AiCategory, Alert, Heuristic, Observation, Severity } from '../records.js';
import type { TenantConfig } from '../tenants/schema.js';
import type { DetectStore } from './sink.js';
import { LruMap, type BoundStat } from '../bounded/lru.js';
import type { IntelMatch } from './indicator.js';

/** One observation as evidence: ids and byte counts, never content. */
export interface EvidenceRef {
  obsId: string;
  tsUs: number;
  flowId?: number;
  communityId?: string;
  /** EDR device id of the client, when attributed. */
  deviceId?: string;
  bytesOut: number;
  bytesIn: number;
}

export interface Hit {
  heuristic: Heuristic;
  severity: Severity;
  title: string;
  /** Heuristic-specific numbers for the analyst. */
  detail: Record<string, number | string | string[] | boolean>;
  /** Earlier observations of the window that led to the hit (the current one is implied). */
  window?: EvidenceRef[];
  /** Fleet-wide alert (H7): no device or client address in the alert or its dedup key. */
  fleet?: boolean;
  /** Hash the alert is about when only SHA-1 is known (H7 dedup key). */
  binHash?: string;
  related?: string[];
  /** A fleet alert's reach (H7): each device with the destinations it called. Merged into the
   * alert's `evidence.spread` (union per device); the alert's provider, host and category
   * fields then name every destination the spread reached. */
  spread?: SpreadHit[];
  /** Rewrites what depends on the merged alert (title, counts) after the merge. */
  describe?: (a: Alert) => void;
}

/** One device's destinations within a fleet hit's window. */
export interface SpreadHit {
  deviceId: string;
  deviceName?: string;
  firstSeenUs: number;
  destinations: { provider: string; host: string; category: AiCategory }[];
}

export interface RuleContext {
  tenant: TenantConfig;
  obs: Observation;
  /** The tenant's warm-up period is over at this observation's capture time. */
  warm: boolean;
  store: DetectStore;
  /** The loaded threat indicator this observation matches (the tenant's files), if any. */
  intel?: IntelMatch;
  /** Marks set by rules for the stored observation row. */
  marks: { h1: boolean };
  /** Turns a hit into a created or updated alert (deduplicated); undefined when nothing changed. */
  emit(hit: Hit): Alert | undefined;
  /** Counts a declared event in the detector's stats (src/detect/counters.ts). */
  count(name: RuleCounter): void;
}

export interface Rule {
  readonly name: string;
  observe(ctx: RuleContext): void;
  /** Drop window state older than its window, relative to capture time `nowUs`. */
  tick?(nowUs: number): void;
  /** The rule's bounded state (windows, series, caches). */
  bounds?(): BoundStat[];
}

/** Most entries of detect's in-memory state (config `detect.*`). */
export interface DetectBounds {
  /** Beacon series: (device, process, host) keys. */
  maxSeries: number;
  /** Keys of each per-tenant window (H7 hashes, upload devices, shadow-volume clients). */
  maxWindowKeys: number;
  /** Observation ids upload remembers to learn its baseline once per connection. */
  maxUploadSeen: number;
  /** Process names whose lineage history is cached (the store keeps all). */
  maxLineageNames: number;
  /** Binary hashes whose first sighting is cached (the store keeps all). */
  maxInventory: number;
}

/** Detect's bounds from the config's `detect` section. */
export function detectBoundsFrom(c: SensorConfig['detect']): DetectBounds {
  return {
    maxSeries: c.max_beacon_series,
    maxWindowKeys: c.max_window_keys,
    maxUploadSeen: c.max_upload_seen,
    maxLineageNames: c.max_lineage_names,
    maxInventory: c.max_inventory,
  };
}

/** The product's defaults: the config schema's. */
export const defaultDetectBounds: DetectBounds = detectBoundsFrom(schemaDefaults('detect'));

/** Sum the stats of per-tenant structures into one line per structure. */
export function sumBounds(stats: Iterable<BoundStat>): BoundStat[] {
  const by = new Map<string, BoundStat>();
  for (const b of stats) {
    const s = by.get(b.structure);
    if (s === undefined) by.set(b.structure, { ...b });
    else {
      s.entries += b.entries;
      s.max += b.max;
      s.evictions += b.evictions;
    }
  }
  return [...by.values()];
}

export function refOf(obs: Observation): EvidenceRef {
  const r: EvidenceRef = { obsId: obs.obsId, tsUs: obs.tsUs, bytesOut: obs.bytesOut, bytesIn: obs.bytesIn };
  if (obs.flow) {
    r.flowId = obs.flow.flowId;
    r.communityId = obs.flow.communityId;
  }
  if (obs.client?.deviceId !== undefined) r.deviceId = obs.client.deviceId;
  return r;
}

/** The device key rules use: EDR device id, else the client address. */
export function deviceKey(obs: Observation): string {
  return obs.client?.deviceId !== undefined ? `dev:${obs.client.deviceId}` : `addr:${obs.clientAddr}`;
}

/** Binary hash for correlation: SHA-256, else SHA-1 (lower-case hex). */
export function binHash(obs: Observation): { hash: string; kind: 'sha256' | 'sha1' } | undefined {
  const c = obs.client;
  if (c?.sha256) return { hash: c.sha256.toLowerCase(), kind: 'sha256' };
  if (c?.sha1) return { hash: c.sha1.toLowerCase(), kind: 'sha1' };
  return undefined;
}

/** True when the client side was matched to a per-connection EDR record. */
export function hasEdr(obs: Observation): boolean {
  return obs.client?.method === 'edr';
}

/**
 * A small time-ordered window of evidence refs per key, unique by obsId (a late-join update
 * replaces its earlier entry instead of counting twice). Bounded per key and in keys.
 */
export class RefWindow<R extends EvidenceRef = EvidenceRef> {
  /** Keys in recency order: the least recently added-to key is evicted when full (counted). */
  private readonly m: LruMap<string, R[]>;
  /** `maxKeys`: config `detect.max_window_keys` (no default here: the schema has it). */
  constructor(private readonly maxPerKey: number, maxKeys: number, structure = 'detect.window_keys') {
    this.m = new LruMap(structure, maxKeys);
  }

  /** Adds (or replaces) `ref`, drops refs older than `sinceUs`; returns the key's refs. */
  add(key: string, ref: R, sinceUs: number): R[] {
    let list = this.m.get(key);
    if (!list) {
      list = [];
      this.m.set(key, list);
    }
    const i = list.findIndex((r) => r.obsId === ref.obsId);
    if (i >= 0) list.splice(i, 1);
    list.push(ref);
    list.sort((a, b) => a.tsUs - b.tsUs);
    const keep = list.filter((r) => r.tsUs >= sinceUs).slice(-this.maxPerKey);
    this.m.set(key, keep);
    return keep;
  }

  /**
   * Removes the keys whose newest ref is older than `sinceUs`, least recently added-to first,
   * stopping at the first key still in the window (keys are roughly in time order; a live
   * key's old refs go at its next `add`). No walk over every key.
   */
  prune(sinceUs: number): void {
    for (let o = this.m.oldest(); o !== undefined; o = this.m.oldest()) {
      const newest = o[1][o[1].length - 1];
      if (newest !== undefined && newest.tsUs >= sinceUs) break;
      this.m.delete(o[0]);
    }
  }

  get size(): number {
    return this.m.size;
  }

  stat(): BoundStat {
    return this.m.stat();
  }
}
