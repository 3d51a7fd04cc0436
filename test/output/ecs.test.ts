/**
 * The file output's `ecs` format uses Elastic Common Schema field names: every field of every
 * demo alert change (except llmtap's own `llmtap.*`) is an ECS field of the @elastic/ecs
 * definitions (the version `ecs.version` names), with a value of the field's type, arrays
 * where ECS normalizes to an array, and only allowed values for `event.kind/category/type`.
 */
import { isIP } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { ECS_VERSION, toEcs } from '../../src/output/format.js';
import type { Alert } from '../../src/records.js';
import { replayDemo } from '../helpers/demo-run.js';

interface FieldDef { type: string; normalize?: string[]; allowed_values?: { name: string }[] }
// the field definitions (ecs_flat) and version of the @elastic/ecs package, loaded as data
const require = createRequire(import.meta.url);
const FIELDS = (require('@elastic/ecs/generated/ecs_flat.js') as { EcsFlat: Record<string, FieldDef> }).EcsFlat;
const EcsVersion = (require('@elastic/ecs') as { EcsVersion: string }).EcsVersion;

function leaves(v: unknown, prefix = ''): [string, unknown][] {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => leaves(x, prefix === '' ? k : `${prefix}.${k}`));
  }
  return [[prefix, v]];
}

function typeOk(def: FieldDef, v: unknown): boolean {
  switch (def.type) {
    case 'keyword': case 'constant_keyword': case 'wildcard': case 'text': case 'match_only_text': return typeof v === 'string';
    case 'long': case 'integer': case 'short': case 'byte': case 'unsigned_long': return Number.isInteger(v);
    case 'float': case 'double': case 'scaled_float': case 'half_float': return typeof v === 'number';
    case 'boolean': return typeof v === 'boolean';
    case 'ip': return typeof v === 'string' && isIP(v) !== 0;
    case 'date': return typeof v === 'string' && !Number.isNaN(Date.parse(v)) && /T.*Z$/.test(v);
    default: return false;
  }
}

describe('ECS output', () => {
  let alerts: Alert[];
  beforeAll(async () => {
    const demo = await replayDemo();
    alerts = demo.store.listAlertChanges('demo', { afterSeq: 0, limit: 1000 });
    demo.store.close();
  }, 60_000);

  it('names the ECS version whose definitions it is checked against', () => {
    expect(ECS_VERSION).toBe(EcsVersion);
  });

  it('every field of every demo alert change is an ECS field with a value of its type', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(13);
    let checked = 0;
    for (const a of alerts) {
      const doc = toEcs(a, { version: '0.1.0', hostname: 'sensor-1' });
      for (const [path, value] of leaves(doc)) {
        if (path.startsWith('llmtap.')) continue;
        const def = FIELDS[path];
        expect({ path, known: def !== undefined }).toEqual({ path, known: true });
        const arr = def!.normalize?.includes('array') === true;
        const values = Array.isArray(value) ? value : [value];
        if (Array.isArray(value)) expect({ path, array: arr }).toEqual({ path, array: true });
        for (const x of values) {
          expect({ path, x, ok: typeOk(def!, x) }).toEqual({ path, x, ok: true });
          if (def!.allowed_values !== undefined) expect(def!.allowed_values.map((o) => o.name)).toContain(x);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(13 * 20);
  });
});
