/** Schemas of allowlist, candidate and inventory routes. */
import { sha256Schema } from './common.js';

const processName = { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^\\\\/\\u0000-\\u001f]+$' } as const;
const provider = { type: 'string', pattern: '^[a-z0-9_-]{1,64}$' } as const;

export const allowlistEntrySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    sha256: { type: 'string' },
    process_name: { type: 'string' },
    provider: { type: 'string' },
    note: { type: 'string' },
    created: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'created'],
} as const;

export const allowlistListSchema = {
  type: 'object',
  properties: { items: { type: 'array', items: allowlistEntrySchema } },
  required: ['items'],
} as const;

/** A new entry matches a binary hash, a process name, or both; optionally one provider. */
export const allowlistAddBody = {
  type: 'object',
  properties: {
    sha256: sha256Schema,
    process_name: processName,
    provider,
    note: { type: 'string', maxLength: 500 },
  },
  anyOf: [{ required: ['sha256'] }, { required: ['process_name'] }],
  additionalProperties: false,
} as const;

export const candidateSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    sha256: { type: 'string' },
    process_name: { type: 'string' },
    provider: { type: 'string' },
    devices: { type: 'integer' },
    count: { type: 'integer' },
    first_seen: { type: 'string', format: 'date-time' },
    last_seen: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'devices', 'count', 'first_seen', 'last_seen'],
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
    items: {
      type: 'array',
      maxItems: INVENTORY_MAX_ITEMS,
      items: {
        type: 'object',
        properties: { sha256: sha256Schema, name: processName },
        required: ['sha256'],
        additionalProperties: false,
      },
    },
  },
  required: ['items'],
  additionalProperties: false,
} as const;

export const inventoryResultSchema = {
  type: 'object',
  properties: { received: { type: 'integer' }, added: { type: 'integer' } },
  required: ['received', 'added'],
} as const;
