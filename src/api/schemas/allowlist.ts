/** Schemas of allowlist, candidate and inventory routes. */
import { CATEGORIES } from './common.js';

/** A process base name: no path separators, no control characters. */
const processName = { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^\\\\/\\u0000-\\u001f]+$' } as const;
const provider = { type: 'string', pattern: '^[a-z0-9_-]{1,64}$' } as const;
const binaryHash = { type: 'string', pattern: '^([0-9a-fA-F]{64}|[0-9a-fA-F]{40})$' } as const;
const justification = { type: 'string', minLength: 1, maxLength: 500 } as const;

export const allowlistEntrySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    process_name: { type: 'string' },
    binary_hash: { type: 'string' },
    device_group: { type: 'string' },
    provider: { type: 'string' },
    category: { type: 'string', enum: CATEGORIES },
    justification: { type: 'string' },
    origin: { type: 'string', enum: ['manual', 'candidate', 'config'] },
    created: { type: 'string', format: 'date-time' },
    expires: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'process_name', 'justification', 'origin', 'created'],
} as const;

export const allowlistListSchema = {
  type: 'object',
  properties: { items: { type: 'array', items: allowlistEntrySchema } },
  required: ['items'],
} as const;

/** A new entry names a process; hash, device group, provider, category and expiry narrow it. */
export const allowlistAddBody = {
  type: 'object',
  properties: {
    process_name: processName,
    binary_hash: binaryHash,
    device_group: { type: 'string', minLength: 1, maxLength: 128 },
    provider,
    category: { type: 'string', enum: CATEGORIES },
    justification,
    expires: { type: 'string', format: 'date-time' },
  },
  required: ['process_name', 'justification'],
  additionalProperties: false,
} as const;

export const approveBody = {
  type: 'object',
  properties: { justification },
  required: ['justification'],
  additionalProperties: false,
} as const;

export const candidateSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    process_name: { type: 'string' },
    provider: { type: 'string' },
    category: { type: 'string', enum: CATEGORIES },
    device_count: { type: 'integer' },
    count: { type: 'integer' },
    status: { type: 'string', enum: ['pending', 'approved'] },
    first_seen: { type: 'string', format: 'date-time' },
    last_seen: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'process_name', 'provider', 'category', 'device_count', 'count', 'status', 'first_seen', 'last_seen'],
} as const;

export const candidateListSchema = {
  type: 'object',
  properties: { items: { type: 'array', items: candidateSchema } },
  required: ['items'],
} as const;

export const INVENTORY_MAX_ITEMS = 100_000;

export const inventoryBody = {
  type: 'object',
  properties: {
    hashes: { type: 'array', maxItems: INVENTORY_MAX_ITEMS, items: binaryHash },
    source: { type: 'string', pattern: '^[a-z0-9_-]{1,32}$', default: 'api' },
  },
  required: ['hashes'],
  additionalProperties: false,
} as const;

export const inventoryResultSchema = {
  type: 'object',
  properties: { received: { type: 'integer' }, imported: { type: 'integer' } },
  required: ['received', 'imported'],
} as const;
