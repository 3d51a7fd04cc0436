/**
 * Shared JSON Schema pieces. Response schemas are the privacy guard at the edge: fastify
 * serializes only the properties listed here, so a field added to a record upstream never
 * leaves the API until someone lists it on purpose.
 */
import { CURSOR_MAX_CHARS } from '../cursor.js';

export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export const HEURISTICS = ['h1', 'h7', 'beacon', 'upload', 'lineage', 'shadow_volume', 'learning', 'threat_intel'] as const;
export const STATUSES = ['open', 'acknowledged', 'closed'] as const;
export const CATEGORIES = ['api', 'assistant', 'sdk', 'local_llm', 'plugin', 'agent'] as const;
export const CONFIDENCE_SIGNALS = [
  'sni_dns_agree', 'sni', 'dns_client', 'dns_any', 'edr_name', 'ip_range', 'no_name', 'sni_dns_conflict',
  'edr_process', 'programmatic', 'browser', 'repeated', 'off_hours', 'first_seen', 'threat_intel',
] as const;
export const HOST_SOURCES = ['sni', 'quic-sni', 'dns-client', 'dns-any', 'edr', 'ip-range', 'none'] as const;

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

export const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
      },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const;

/** Adds the coded error bodies to a route's response map (for the OpenAPI document). */
export function withErrors<T extends Record<string, unknown>>(ok: T): T & { '4xx': typeof errorSchema; '5xx': typeof errorSchema } {
  return { ...ok, '4xx': errorSchema, '5xx': errorSchema };
}

export const cursorQuery = { type: 'string', maxLength: CURSOR_MAX_CHARS } as const;
export const limitQuery = { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: DEFAULT_PAGE } as const;

/** Path parameter `:id` — ids are short opaque tokens. */
export const idParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.:-]+$' } },
  required: ['id'],
  additionalProperties: false,
} as const;

export const sha256Schema = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
