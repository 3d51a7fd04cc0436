/**
 * JSON Schema validation of one parsed rule file (config/rules/schema.json, draft-07, ajv).
 * Errors are turned into sentences that name the rule id and the key, and the YAML line when
 * the document came from YAML.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';

export const SCHEMA_URL = new URL('../../config/rules/schema.json', import.meta.url);

let schemaCache: object | undefined;
let validateCache: ValidateFunction | undefined;

/** The rule-file JSON Schema (read once). */
export function ruleSchema(): object {
  schemaCache ??= JSON.parse(readFileSync(SCHEMA_URL, 'utf8')) as object;
  return schemaCache;
}

function validator(): ValidateFunction {
  if (validateCache === undefined) {
    const ajv = new Ajv({ allErrors: true, strict: true });
    validateCache = ajv.compile(ruleSchema());
  }
  return validateCache;
}

/** Where a problem is: the path into the document as keys and indexes. */
export type DocPath = Array<string | number>;

export interface SchemaProblem {
  path: DocPath;
  message: string;
}

/** Validates `data` against the rule-file schema; returns every problem (empty when valid). */
export function schemaProblems(data: unknown): SchemaProblem[] {
  const validate = validator();
  if (validate(data)) return [];
  return (validate.errors ?? []).map(toProblem);
}

function toProblem(e: ErrorObject): SchemaProblem {
  const path: DocPath = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const params = e.params as Record<string, unknown>;
  let message = e.message ?? 'is invalid';
  if (e.keyword === 'additionalProperties') message = `has unknown key "${String(params['additionalProperty'])}"`;
  else if (e.keyword === 'required') message = `is missing "${String(params['missingProperty'])}"`;
  else if (e.keyword === 'enum') message = `must be one of ${(params['allowedValues'] as unknown[]).join(', ')}`;
  else if (e.keyword === 'const') message = `must be ${JSON.stringify(params['allowedValue'])}`;
  else if (e.keyword === 'pattern') message = 'is not a valid name here';
  return { path, message };
}

/** `rules[3].match.hosts[0]` */
export function pathText(path: DocPath): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s === '' ? '(document)' : s;
}
