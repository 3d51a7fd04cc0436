/** Schemas of the rules routes (export, explain, reload). */
import { CATEGORIES } from './common.js';

export const explainQuery = {
  type: 'object',
  properties: {
    host: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9._:*-]+$' },
    process: { type: 'string', minLength: 1, maxLength: 255 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
  },
  required: ['host'],
  additionalProperties: false,
} as const;

export const verdictSchema = {
  type: 'object',
  properties: {
    category: { type: 'string', enum: CATEGORIES },
    provider: { type: 'string' },
    rule_id: { type: 'string' },
    sanctioned: { type: 'boolean' },
    verify: { type: 'boolean' },
  },
  required: ['category', 'provider', 'rule_id', 'sanctioned'],
} as const;

export const explainSchema = {
  type: 'object',
  properties: {
    host: { type: 'string' },
    matched: { type: 'boolean' },
    verdict: verdictSchema,
    steps: {
      type: 'array',
      items: {
        type: 'object',
        properties: { rule_id: { type: 'string' }, matched: { type: 'boolean' }, reason: { type: 'string' } },
        required: ['rule_id', 'matched', 'reason'],
      },
    },
  },
  required: ['host', 'matched', 'steps'],
} as const;

/** The exported rule set is public data (it ships to endpoint agents), passed through whole. */
export const exportSchema = { type: 'object', additionalProperties: true } as const;

export const reloadSchema = {
  type: 'object',
  properties: { reloaded: { type: 'boolean' }, rules: { type: 'integer' } },
  required: ['reloaded', 'rules'],
} as const;
