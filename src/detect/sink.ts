/**
 * What detect needs from the store, declared here so detect never imports the store (a later
 * stage, docs/architecture.md, Imports). The store satisfies it structurally; the wiring hands it in. Every method
 * is tenant-scoped or keyed by an id that is; nothing here reads or writes payload or content.
 */
import type { AiCategory, Alert, Heuristic, Observation } from '../records.js';

/** Facts an allowlist check needs about one connection. */
export interface AllowCheck {
  processName: string;
  /** SHA-256 or, without one, SHA-1 of the binary, lower-case hex. */
  binaryHash?: string;
  /** The binary's SHA-1 when the feed gave one (an allowlist entry pinned to a SHA-1 matches it). */
  sha1?: string;
  /** Device groups (tenant config) the client device belongs to. */
  deviceGroups: string[];
  provider: string;
  category: AiCategory;
  /** Capture time, ms since the epoch (for expiry). */
  atMs: number;
}

/** A process H1 would flag, recorded for an analyst to approve. */
export interface CandidateSighting {
  processName: string;
  provider: string;
  category: AiCategory;
  deviceId: string;
  obsId: string;
  tsUs: number;
}

/** Marks stored with an observation row. */
export interface ObservationMarks {
  /** H1 (or its warm-up learning alert) fired for this observation. */
  h1?: boolean;
}

export interface DetectStore {
  // Alerts and their deduplication (see dedup.ts).
  /** Insert or update by id under `dedupKey`; returns the alert with its new change seq (unset
   * where the store numbers changes when it commits: the hub's PostgreSQL store). */
  upsertAlert(a: Alert, dedupKey: string): Alert;
  /** The not-closed alert with this dedup key, if any. */
  openAlertByKey(tenant: string, dedupKey: string): Alert | undefined;
  /** Alert by id, including writes not yet committed. */
  peekAlert(tenant: string, id: string): Alert | undefined;
  /** Ids of the tenant's alerts of one heuristic about a binary hash, oldest first. */
  alertIdsByHash(tenant: string, hash: string, heuristic: Heuristic, limit?: number): string[];
  /** Records that `obsId` counted toward `scope` (an alert id); false when it already had. */
  contribute(scope: string, obsId: string, tsUs: number): boolean;
  hasContributed(scope: string, obsId: string): boolean;
  /** Runs before every commit (coalesced alert updates are written there). */
  onBeforeCommit(fn: () => void): void;

  // Observations, allowlist and learning.
  /** Upsert by obsId (AI observations only). */
  insertObservation(o: Observation, marks: ObservationMarks): void;
  /** The matching allowlist entry, or undefined when none matches. */
  isAllowlisted(tenant: string, q: AllowCheck): { readonly id: number } | undefined;
  upsertCandidate(tenant: string, c: CandidateSighting): void;
  /** Earliest sighting of a binary hash in the tenant (imported ones count as 0), or undefined. */
  inventoryFirstSeen(tenant: string, hash: string): number | undefined;
  addInventory(tenant: string, hash: string, firstSeenUs: number, source?: string): void;
  /** Parent lineages seen for a process: lineage hash → first sighting, capture µs. A fresh
   * map the caller may keep and extend (parent.ts caches it). */
  lineages(tenant: string, processName: string): Map<string, number>;
  addLineage(tenant: string, processName: string, lineageHash: string, tsUs: number): void;
  /** First sighting of a (device key, process name, provider), capture µs, or undefined. */
  pairFirstSeen(tenant: string, device: string, process: string, provider: string): number | undefined;
  addPairFirstSeen(tenant: string, device: string, process: string, provider: string, tsUs: number): void;
  /** Capture time of the tenant's first observation (warm-up clock), persisted. */
  tenantFirstObs(tenant: string): number | undefined;
  setTenantFirstObs(tenant: string, tsUs: number): void;

  // Housekeeping, by capture time.
  /** Deletes expired rows; alert TTL per tenant in hours. Returns rows deleted. */
  runRetention(nowMs: number, alertTtlHours: Record<string, number>): number;
  /** Commits pending writes; never throws. */
  flush(): void;
}
