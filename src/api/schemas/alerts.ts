/** Schemas of the alert routes: native JSON (snake_case) and OCSF Detection Finding. */
import { CONFIDENCE_SIGNALS, HEURISTICS, HOST_SOURCES, SEVERITIES, STATUSES, CATEGORIES, cursorQuery, limitQuery } from './common.js';
import { ocsfFindingSchema } from './ocsf.js';

export const alertsQuery = {
  type: 'object',
  properties: {
    cursor: cursorQuery,
    limit: limitQuery,
    severity: { type: 'string', enum: SEVERITIES },
    heuristic: { type: 'string', enum: HEURISTICS },
    format: { type: 'string', enum: ['native', 'ocsf'], default: 'native' },
  },
  additionalProperties: false,
} as const;

const detailValue = {
  anyOf: [
    { type: 'number' },
    { type: 'boolean' },
    { type: 'string', maxLength: 256 },
    { type: 'array', items: { type: 'string', maxLength: 256 }, maxItems: 64 },
  ],
} as const;

export const evidenceSchema = {
  type: 'object',
  properties: {
    flow_ids: { type: 'array', items: { type: 'integer' } },
    community_ids: { type: 'array', items: { type: 'string' } },
    obs_ids: { type: 'array', items: { type: 'string' } },
    host: { type: 'string' },
    host_source: { type: 'string', enum: HOST_SOURCES },
    rule_id: { type: 'string' },
    bytes_out: { type: 'integer' },
    bytes_in: { type: 'integer' },
    detail: { type: 'object', additionalProperties: detailValue },
    spread: {
      type: 'array',
      maxItems: 1024,
      items: {
        type: 'object',
        properties: {
          device_id: { type: 'string' },
          device_name: { type: 'string' },
          providers: { type: 'array', items: { type: 'string' } },
          hosts: { type: 'array', items: { type: 'string' } },
          first_seen: { type: 'string', format: 'date-time' },
        },
        required: ['device_id', 'providers', 'hosts', 'first_seen'],
      },
    },
  },
  required: ['flow_ids', 'community_ids', 'obs_ids', 'bytes_out', 'bytes_in', 'detail'],
} as const;

export const alertSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    seq: { type: 'integer' },
    heuristic: { type: 'string', enum: HEURISTICS },
    severity: { type: 'string', enum: SEVERITIES },
    status: { type: 'string', enum: STATUSES },
    title: { type: 'string' },
    device_id: { type: 'string' },
    device_name: { type: 'string' },
    client_addr: { type: 'string' },
    process_name: { type: 'string' },
    sha256: { type: 'string' },
    sha1: { type: 'string', description: 'SHA-1 of the binary, present only when the endpoint reported no SHA-256 (then the binary identity)' },
    provider: { type: 'string' },
    category: { type: 'string', enum: CATEGORIES },
    host: { type: 'string' },
    providers: { type: 'array', items: { type: 'string' } },
    categories: { type: 'array', items: { type: 'string', enum: CATEGORIES } },
    hosts: { type: 'array', items: { type: 'string' } },
    count: { type: 'integer' },
    first_seen: { type: 'string', format: 'date-time' },
    last_seen: { type: 'string', format: 'date-time' },
    first_seen_us: { type: 'number' },
    last_seen_us: { type: 'number' },
    evidence: evidenceSchema,
    related: { type: 'array', items: { type: 'string' } },
    confidence: {
      type: 'object',
      properties: {
        level: { type: 'string', enum: ['low', 'medium', 'high'] },
        score: { type: 'integer' },
        reasons: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              signal: { type: 'string', enum: CONFIDENCE_SIGNALS },
              weight: { type: 'integer' },
              note: { type: 'string', maxLength: 256 },
            },
            required: ['signal', 'weight', 'note'],
          },
        },
      },
      required: ['level', 'score', 'reasons'],
    },
  },
  required: ['id', 'heuristic', 'severity', 'status', 'title', 'count', 'first_seen', 'last_seen', 'evidence'],
} as const;

export const alertPageSchema = {
  type: 'object',
  properties: {
    format: { type: 'string', enum: ['native', 'ocsf'] },
    items: { type: 'array', items: { anyOf: [alertSchema, ocsfFindingSchema] } },
    next_cursor: { type: 'string' },
    has_more: { type: 'boolean' },
  },
  required: ['format', 'items', 'next_cursor', 'has_more'],
} as const;

export const alertPageNativeSchema = {
  ...alertPageSchema,
  properties: { ...alertPageSchema.properties, items: { type: 'array', items: alertSchema } },
} as const;

export const alertPageOcsfSchema = {
  ...alertPageSchema,
  properties: { ...alertPageSchema.properties, items: { type: 'array', items: ocsfFindingSchema } },
} as const;

export const statusBody = {
  type: 'object',
  properties: { status: { type: 'string', enum: STATUSES } },
  required: ['status'],
  additionalProperties: false,
} as const;
