/**
 * Rows the store returns to the API and takes from detect. Only metadata: no column or field
 * for payload bytes, prompt text, command lines, user names or SIDs exists anywhere here.
 */
import type { AiCategory, HostSource, Observation, Verdict } from '../records.js';

/**
 * One AI observation as stored: the subset of `Observation` and of its verdict the schema
 * keeps (their types taken from there, declared once), and what the store adds.
 */
export interface ObservationRow
  extends Pick<Observation, 'obsId' | 'tenant' | 'kind' | 'tsUs' | 'lastTsUs' | 'clientAddr' | 'serverAddr' | 'serverPort' | 'proto' | 'host' | 'hostSource' | 'bytesOut' | 'bytesIn'>,
    Pick<Verdict, 'category' | 'provider' | 'ruleId' | 'sanctioned'> {
  /** Change sequence: grows on every insert or update of the row (paging cursor). */
  seq: number;
  deviceId?: string;
  deviceName?: string;
  processName?: string;
  sha256?: string;
  sha1?: string;
  parentName?: string;
  lineageHash?: string;
  flowId?: number;
  communityId?: string;
  /** Present only when the tenant opted in to payload entropy. */
  payloadEntropy?: number;
  /** H1 fired (or would have, during warm-up a learning alert) for this observation. */
  h1: boolean;
}

/**
 * How a stored observation field is kept: `text`, `integer`, `real`, `boolean` (0/1 in SQLite,
 * a boolean in PostgreSQL), `time` (µs since the epoch in a double; the API serves it as an
 * ISO 8601 date-time).
 */
export type ObservationFieldType = 'text' | 'integer' | 'real' | 'boolean' | 'time';

/** One field of a stored AI observation. */
export interface ObservationField {
  /** Its name in `ObservationRow`. */
  field: keyof ObservationRow;
  /** Its column, in SQLite and PostgreSQL alike. */
  column: string;
  /** Its name in the API's JSON (`GET /v1/observations`); absent: not served. */
  api?: string;
  type: ObservationFieldType;
  /** Always present (NOT NULL); otherwise absent when unknown. */
  required: boolean;
  /** Its value from the observation and its verdict; absent: the store assigns it (`seq`, `h1`). */
  of?: (o: Observation, v: Verdict) => string | number | boolean | undefined;
}

/**
 * The stored observation's shape, declared once: field, column, API name, type and where the
 * value comes from. The stores' columns, the row→`ObservationRow` reading and the
 * observation→row writing (src/store/observations.ts, both stores) and the API item
 * (src/api/present.ts) are derived from it; the SQL schemas (src/store/schema.ts,
 * src/store/pg/migrations.ts) and the API response schema (src/api/schemas/observations.ts)
 * are checked against it (test/store/observation-shape.test.ts).
 */
export const OBSERVATION_FIELDS = [
  { field: 'seq', column: 'tenant_seq', api: 'seq', type: 'integer', required: true },
  { field: 'obsId', column: 'obs_id', api: 'obs_id', type: 'text', required: true, of: (o) => o.obsId },
  { field: 'tenant', column: 'tenant', type: 'text', required: true, of: (o) => o.tenant },
  { field: 'kind', column: 'kind', api: 'kind', type: 'text', required: true, of: (o) => o.kind },
  { field: 'tsUs', column: 'ts_us', api: 'ts', type: 'time', required: true, of: (o) => o.tsUs },
  { field: 'lastTsUs', column: 'last_ts_us', api: 'last_ts', type: 'time', required: true, of: (o) => o.lastTsUs },
  { field: 'deviceId', column: 'device_id', api: 'device_id', type: 'text', required: false, of: (o) => o.client?.deviceId },
  { field: 'deviceName', column: 'device_name', api: 'device_name', type: 'text', required: false, of: (o) => o.client?.deviceName },
  { field: 'clientAddr', column: 'client_addr', api: 'client_addr', type: 'text', required: true, of: (o) => o.clientAddr },
  { field: 'serverAddr', column: 'server_addr', api: 'server_addr', type: 'text', required: true, of: (o) => o.serverAddr },
  { field: 'serverPort', column: 'server_port', api: 'server_port', type: 'integer', required: true, of: (o) => o.serverPort },
  { field: 'proto', column: 'proto', api: 'proto', type: 'integer', required: true, of: (o) => o.proto },
  { field: 'host', column: 'host', api: 'host', type: 'text', required: false, of: (o) => o.host },
  { field: 'hostSource', column: 'host_source', api: 'host_source', type: 'text', required: true, of: (o) => o.hostSource },
  { field: 'processName', column: 'process_name', api: 'process_name', type: 'text', required: false, of: (o) => o.client?.processName },
  { field: 'sha256', column: 'sha256', api: 'sha256', type: 'text', required: false, of: (o) => o.client?.sha256 },
  { field: 'sha1', column: 'sha1', api: 'sha1', type: 'text', required: false, of: (o) => o.client?.sha1 },
  { field: 'parentName', column: 'parent_name', type: 'text', required: false, of: (o) => o.client?.parentName },
  { field: 'lineageHash', column: 'lineage_hash', type: 'text', required: false, of: (o) => o.client?.lineageHash },
  { field: 'category', column: 'category', api: 'category', type: 'text', required: true, of: (_o, v) => v.category },
  { field: 'provider', column: 'provider', api: 'provider', type: 'text', required: true, of: (_o, v) => v.provider },
  { field: 'ruleId', column: 'rule_id', api: 'rule_id', type: 'text', required: true, of: (_o, v) => v.ruleId },
  { field: 'sanctioned', column: 'sanctioned', api: 'sanctioned', type: 'boolean', required: true, of: (_o, v) => v.sanctioned },
  { field: 'bytesOut', column: 'bytes_out', api: 'bytes_out', type: 'integer', required: true, of: (o) => Math.round(o.bytesOut) },
  { field: 'bytesIn', column: 'bytes_in', api: 'bytes_in', type: 'integer', required: true, of: (o) => Math.round(o.bytesIn) },
  { field: 'flowId', column: 'flow_id', type: 'integer', required: false, of: (o) => o.flow?.flowId },
  { field: 'communityId', column: 'community_id', api: 'community_id', type: 'text', required: false, of: (o) => o.flow?.communityId },
  // present only when the flow's tenant opted in (decided once, src/pipeline.ts); never served
  { field: 'payloadEntropy', column: 'payload_entropy', type: 'real', required: false, of: (o) => o.flow?.payloadEntropy },
  { field: 'h1', column: 'h1', type: 'boolean', required: true },
] as const satisfies readonly ObservationField[];

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
