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
    range: { type: 'string', description: 'the published destination prefix that decided (the host is an address: no name known)' },
  },
  required: ['category', 'provider', 'rule_id', 'sanctioned'],
} as const;

const ruleRef = {
  type: 'object',
  properties: {
    rule_id: { type: 'string' },
    category: { type: 'string' },
    provider: { type: 'string' },
    sanctioned: { type: 'boolean' },
    source: { type: 'string' },
  },
  required: ['rule_id', 'category', 'provider'],
} as const;

export const explainSchema = {
  type: 'object',
  properties: {
    host: { type: 'string' },
    matched: { type: 'boolean' },
    verdict: verdictSchema,
    deciding_rule: ruleRef,
    other_matches: { type: 'array', items: ruleRef },
    unmet: {
      type: 'array',
      items: { type: 'object', properties: { rule_id: { type: 'string' }, failed: { type: 'string' } }, required: ['rule_id', 'failed'] },
    },
    reasons: { type: 'array', items: { type: 'string' } },
    excluded: { type: 'object', properties: { host: { type: 'string' }, reason: { type: 'string' } }, required: ['host', 'reason'] },
    rules_version: { type: 'string' },
  },
  required: ['host', 'matched', 'other_matches', 'unmet', 'reasons', 'rules_version'],
} as const;

/** The exported rule set is public data (it ships to endpoint agents), passed through whole. */
export const exportSchema = { type: 'object', additionalProperties: true } as const;

export const reloadSchema = {
  type: 'object',
  properties: { reloaded: { type: 'boolean' }, rules_version: { type: 'string' } },
  required: ['reloaded', 'rules_version'],
} as const;
