/**
 * The narrow, structural view the API has of the stages it serves. The pipeline wiring passes the real
 * `Store`, `Classifier` and EDR ingest bound to their sinks; tests pass small fakes. Row shapes
 * are the store's (types only); the method sets are declared here, where they are used.
 */
import type { AllowlistEntry, Candidate, NewAllowlistEntry, ObservationRow, UsageQuery, UsageRow } from '../store/types.js';
import type { Registry } from 'prom-client';
import type {
  AuditEvent,
  AiCategory,
  Alert,
  AlertStatus,
  Heuristic,
  Severity,
  Verdict,
} from '../records.js';

/** A page request on a change-ordered list: rows with `seq > afterSeq`, ascending, at most `limit`. */
export interface ChangePage {
  afterSeq: number;
  limit: number;
}

export interface AlertFilter extends ChangePage {
  severity?: Severity;
  heuristic?: Heuristic;
}

export interface ObservationFilter extends ChangePage {
  provider?: string;
  category?: AiCategory;
  deviceId?: string;
}

// The rows the API serves are the store's own (the response schemas choose which fields leave).
export type { AllowlistEntry, Candidate, NewAllowlistEntry, ObservationRow, UsageDimension, UsageQuery, UsageRow } from '../store/types.js';

/** A value, or its promise: the SQLite store answers at once, the PostgreSQL store (fleet hub) asynchronously. */
export type Awaitable<T> = T | Promise<T>;

/** What the routes read and write; every route awaits each call. */
export interface ApiStore {
  listAlertChanges(tenant: string, filter: AlertFilter): Awaitable<Alert[]>;
  getAlert(tenant: string, id: string): Awaitable<Alert | undefined>;
  /** Returns the updated alert, or undefined when the id is not this tenant's. */
  setAlertStatus(tenant: string, id: string, status: AlertStatus): Awaitable<Alert | undefined>;
  listObservations(tenant: string, filter: ObservationFilter): Awaitable<ObservationRow[]>;
  listAllowlist(tenant: string): Awaitable<AllowlistEntry[]>;
  addAllowlist(tenant: string, entry: NewAllowlistEntry): Awaitable<AllowlistEntry>;
  /** False when the id is not this tenant's. */
  removeAllowlist(tenant: string, id: number): Awaitable<boolean>;
  listCandidates(tenant: string): Awaitable<Candidate[]>;
  /** The allowlist entry created, or undefined when the id is not this tenant's. */
  approveCandidate(tenant: string, id: number, justification: string): Awaitable<AllowlistEntry | undefined>;
  /** Adds hashes (SHA-256 or SHA-1 hex) to the known inventory; returns how many were valid. */
  importInventory(tenant: string, hashes: string[], source: string): Awaitable<number>;
  /** The tenant's usage summary over a window (src/store/usage.ts). */
  usage(tenant: string, q: UsageQuery): Awaitable<UsageRow[]>;
  writable(): boolean;
  /** While a storage fault lasts: its reason and the writes queued (readiness detail). */
  status?(): { writable: boolean; reason?: string; message?: string; queued: { alert: number; observation: number; other: number } };
}

export interface ExplainQuery {
  tenant?: string;
  host?: string;
  processName?: string;
  port?: number;
}

/** One rule in an explanation (the fields the API shows; the classifier may carry more). */
export interface ExplainedRule {
  ruleId: string;
  category: string;
  provider: string;
  sanctioned: boolean;
  source: string;
}

export interface ExplainResult {
  verdict: Verdict | null;
  decidingRule: ExplainedRule | null;
  otherMatches: ExplainedRule[];
  unmet: Array<{ ruleId: string; failed: string }>;
  reasons: string[];
  excluded?: { host: string; reason: string };
  rulesVersion: string;
}

export interface ApiClassifier {
  explain(q: ExplainQuery): ExplainResult;
  /**
   * The rule set as the document endpoint agents load: with a tenant, the default rules plus
   * that tenant's own (no other tenant's); without, every tenant's (operators).
   */
  exportDocument(tenant?: string): object;
  /** Re-reads the rule files; on failure the old rules stay and `error` says why. */
  reload(): { ok: true; version: string } | { ok: false; error: string };
}

export interface EdrIngestResult {
  accepted: number;
  /** Rejected records by reason (`ingest.bad_json`, …). */
  rejected: Record<string, number>;
  /** Records seen by detected source format. */
  byFormat: Record<string, number>;
}

export interface ApiDeps {
  store: ApiStore;
  classifier: ApiClassifier;
  /**
   * The EDR ingest bound to its options and sink; `body` is already decompressed (identity).
   * May throw an error whose `code` is `LLMTAP_ERR_EDR_TOO_LARGE` (answered 413) or another
   * `LLMTAP_ERR_EDR_*` (answered 400 as a bad batch).
   */
  ingestEdr(tenant: string, body: Buffer): Promise<EdrIngestResult> | EdrIngestResult;
  /** Whether live capture or a replay is running (readiness). */
  captureRunning(): boolean;
  /** Live overload state (readiness detail; degraded, still ready). */
  overload?(): { level: number; state: string; newFlowsPerS: number; lagS: number; undissected: number; unanalyzed: number };
  /** Every metric, served at /metrics to an operator token (`createMetrics().registry`). */
  registry: Registry;
  /** Operational metrics only, served at /metrics without a token (`createMetrics().publicRegistry`). */
  publicRegistry: Registry;
  /** Counts requests by route template and status code (`createMetrics().apiRequests`). */
  apiRequests?: { inc(labels: { route: string; code: string }): void };
  /** Request duration by route template (`createMetrics().apiLatency`), seconds. */
  apiLatency?: { observe(labels: { route: string }, seconds: number): void };
  /** Receives one event per change a tenant or operator makes (allowlist, inventory, alert status, rule reload). */
  audit?: (e: AuditEvent) => void;
}
