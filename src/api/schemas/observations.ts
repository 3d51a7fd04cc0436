/** Schemas of `GET /v1/observations`: recent AI flows, change-ordered and cursor-paged. */
import { CATEGORIES, HOST_SOURCES, cursorQuery, limitQuery } from './common.js';

export const observationsQuery = {
  type: 'object',
  properties: {
    cursor: cursorQuery,
    limit: limitQuery,
    provider: { type: 'string', pattern: '^[a-z0-9_-]{1,64}$' },
    category: { type: 'string', enum: CATEGORIES },
    device: { type: 'string', minLength: 1, maxLength: 256 },
  },
  additionalProperties: false,
} as const;

export const observationSchema = {
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    obs_id: { type: 'string' },
    kind: { type: 'string', enum: ['flow', 'edr-only'] },
    ts: { type: 'string', format: 'date-time' },
    last_ts: { type: 'string', format: 'date-time' },
    host: { type: 'string' },
    host_source: { type: 'string', enum: HOST_SOURCES },
    category: { type: 'string', enum: CATEGORIES },
    provider: { type: 'string' },
    rule_id: { type: 'string' },
    sanctioned: { type: 'boolean' },
    community_id: { type: 'string' },
    device_id: { type: 'string' },
    device_name: { type: 'string' },
    process_name: { type: 'string' },
    sha256: { type: 'string' },
    sha1: { type: 'string', description: 'SHA-1 of the binary as the endpoint reported it (Defender gives SHA-1 only); never compared with a SHA-256' },
    client_addr: { type: 'string' },
    server_addr: { type: 'string' },
    server_port: { type: 'integer' },
    proto: { type: 'integer' },
    bytes_out: { type: 'integer' },
    bytes_in: { type: 'integer' },
  },
  required: ['seq', 'obs_id', 'kind', 'ts', 'host_source', 'category', 'provider', 'client_addr', 'server_addr', 'bytes_out', 'bytes_in'],
} as const;

export const observationPageSchema = {
  type: 'object',
  properties: {
    items: { type: 'array', items: observationSchema },
    next_cursor: { type: 'string' },
    has_more: { type: 'boolean' },
  },
  required: ['items', 'next_cursor', 'has_more'],
} as const;
