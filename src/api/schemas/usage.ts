/** Schemas of `GET /v1/usage`: the tenant's AI usage summary over a window. */
import { USAGE_DIMENSIONS } from '../../store/types.js';

const dim = `(${USAGE_DIMENSIONS.join('|')})`;

export const MAX_USAGE_ROWS = 10_000;

export const usageQuery = {
  type: 'object',
  properties: {
    window: {
      type: 'string',
      pattern: '^[1-9][0-9]{0,4}[mhd]$',
      default: '24h',
      description: 'How far back from `until`: minutes (m), hours (h) or days (d), at most 90d',
    },
    until: { type: 'string', format: 'date-time', description: 'End of the window (default: now)' },
    group: {
      type: 'string',
      pattern: `^${dim}(,${dim}){0,3}$`,
      default: 'device,provider',
      description: `Comma-separated group keys, each at most once: ${USAGE_DIMENSIONS.join(', ')}`,
    },
    limit: { type: 'integer', minimum: 1, maximum: MAX_USAGE_ROWS, default: 1000 },
  },
  additionalProperties: false,
} as const;

const rowProps = {
  device: { type: 'string', description: 'EDR device id, or the source address when no EDR record named the device' },
  source: { type: 'string', description: 'client address' },
  provider: { type: 'string' },
  destination: { type: 'string', description: 'host name (SNI, DNS or EDR), or the server address when none was known' },
  connections: { type: 'integer' },
  first_seen: { type: 'string', format: 'date-time' },
  last_seen: { type: 'string', format: 'date-time' },
  bytes_sent: { type: 'integer' },
  bytes_received: { type: 'integer' },
  distinct_destinations: { type: 'integer' },
} as const;

export const usageRowSchema = {
  type: 'object',
  properties: rowProps,
  required: ['connections', 'first_seen', 'last_seen', 'bytes_sent', 'bytes_received', 'distinct_destinations'],
} as const;

export const usageSchema = {
  type: 'object',
  properties: {
    window: {
      type: 'object',
      properties: { from: { type: 'string', format: 'date-time' }, until: { type: 'string', format: 'date-time' }, length: { type: 'string' } },
      required: ['from', 'until', 'length'],
    },
    group: { type: 'array', items: { type: 'string', enum: USAGE_DIMENSIONS } },
    items: { type: 'array', items: usageRowSchema },
    /** The whole window in one row (absent when it holds no connection). */
    total: usageRowSchema,
    truncated: { type: 'boolean' },
  },
  required: ['window', 'group', 'items', 'truncated'],
} as const;
