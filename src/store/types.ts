/**
 * Rows the store returns to the API and takes from detect. Only metadata: no column or field
 * for payload bytes, prompt text, command lines, user names or SIDs exists anywhere here.
 */
import type { AiCategory, HostSource } from '../records.js';

/** One AI observation as stored (the subset of `Observation` the schema keeps). */
export interface ObservationRow {
  /** Change sequence: grows on every insert or update of the row (paging cursor). */
  seq: number;
  obsId: string;
  tenant: string;
  kind: 'flow' | 'edr-only';
  tsUs: number;
  lastTsUs: number;
  deviceId?: string;
  deviceName?: string;
  clientAddr: string;
  serverAddr: string;
  serverPort: number;
  proto: number;
  host?: string;
  hostSource: HostSource;
  processName?: string;
  sha256?: string;
  sha1?: string;
  parentName?: string;
  lineageHash?: string;
  category: AiCategory;
  provider: string;
  ruleId: string;
  sanctioned: boolean;
  bytesOut: number;
  bytesIn: number;
  flowId?: number;
  communityId?: string;
  /** Present only when the tenant opted in to payload entropy. */
  payloadEntropy?: number;
  /** H1 fired (or would have, during warm-up a learning alert) for this observation. */
  h1: boolean;
}

/** What an allowlist entry may be pinned to; every present pin must match. */
export interface NewAllowlistEntry {
  /** Process name, matched case-insensitively (stored lower-case). */
  processName: string;
  /** Pin to one binary: SHA-256 (64 hex) or SHA-1 (40 hex), lower-case; the length says which. */
  binaryHash?: string;
  /** Pin to a device group named in the tenant config. */
  deviceGroup?: string;
  provider?: string;
  category?: AiCategory;
  justification: string;
  /** Entry stops matching at this time (ms since the epoch, compared with capture time). */
  expiresAtMs?: number;
}

export type AllowOrigin = 'manual' | 'candidate' | 'config';

export interface AllowlistEntry extends NewAllowlistEntry {
  id: number;
  tenant: string;
  createdAtMs: number;
  /** `manual` (API), `candidate` (approved from warm-up learning) or `config` (the config
   * file's `allowlist:`; replaced by the new config's set on SIGHUP). */
  origin: AllowOrigin;
}

/** A process H1 would have flagged during warm-up (or since), waiting for a decision. */
export interface Candidate {
  id: number;
  tenant: string;
  processName: string;
  provider: string;
  category: AiCategory;
  /** Distinct devices seen (bounded list, see `deviceCount` for the total). */
  devices: string[];
  deviceCount: number;
  count: number;
  firstSeenUs: number;
  lastSeenUs: number;
  status: 'pending' | 'approved';
}

/**
 * What detect asks of the store: the store implements detect's `DetectStore` (detect/sink.ts),
 * so the argument shapes are detect's, used here as they are.
 */
export type { AllowCheck as AllowQuery, CandidateSighting } from '../detect/sink.js';

/** Group keys of the usage summary (src/store/usage.ts says what each one is). */
export const USAGE_DIMENSIONS = ['device', 'source', 'provider', 'destination'] as const;
export type UsageDimension = (typeof USAGE_DIMENSIONS)[number];

export interface UsageQuery {
  /** Connections that started at or after this time (µs since the epoch)… */
  sinceUs: number;
  /** …and before this one. */
  untilUs: number;
  /** Group keys, in output order; empty: one total row. Each at most once. */
  group: readonly UsageDimension[];
  /** Most rows returned (largest connection counts first). */
  limit: number;
}

/** One row of the usage summary. */
export interface UsageRow {
  /** The group's key values, by dimension (only the grouped ones). */
  key: Partial<Record<UsageDimension, string>>;
  connections: number;
  /** Start of the group's first connection and end of its last one (µs since the epoch). */
  firstSeenUs: number;
  lastSeenUs: number;
  /** Client-sent and client-received wire bytes. */
  bytesSent: number;
  bytesReceived: number;
  /** Distinct destinations (host name, else server address) in the group. */
  distinctDestinations: number;
}
