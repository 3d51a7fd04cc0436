/**
 * The stored observation's shape is declared once (OBSERVATION_FIELDS in src/store/types.ts:
 * field, column, API name, type, source in the observation). The stores' columns, row reading
 * and writing and the API item are derived from it; what is still spelled out elsewhere — the
 * row type, the SQLite and PostgreSQL schemas and the API response schema — is checked against
 * it here, so a field added in one place and missed in another fails.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { presentObservation } from '../../src/api/present.js';
import { observationSchema } from '../../src/api/schemas/observations.js';
import type { Observation } from '../../src/records.js';
import { OBSERVATION_COLUMNS, toRow } from '../../src/store/observations.js';
import { PG_MIGRATIONS } from '../../src/store/pg/migrations.js';
import { migrate } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';
import { OBSERVATION_FIELDS, type ObservationFieldType, type ObservationRow } from '../../src/store/types.js';

type Declared = (typeof OBSERVATION_FIELDS)[number]['field'];
// Compile-time: every ObservationRow key is declared (the declaration's `field` is typed as a
// key of ObservationRow, so the other direction holds by construction).
const everyRowKeyDeclared: [Exclude<keyof ObservationRow, Declared>] extends [never] ? true : false = true;

const fields = OBSERVATION_FIELDS as readonly { field: string; column: string; api?: string; type: ObservationFieldType; required: boolean; of?: unknown }[];
const apiFields = fields.filter((f) => f.api !== undefined);

describe('the observation shape, declared once', () => {
  it('names are unique; only the store-assigned fields (seq, h1) have no source in the observation', () => {
    expect(everyRowKeyDeclared).toBe(true);
    for (const k of ['field', 'column', 'api'] as const) {
      const names = fields.map((f) => f[k]).filter((x) => x !== undefined);
      expect(new Set(names).size).toBe(names.length);
    }
    expect(fields.filter((f) => f.of === undefined).map((f) => f.field)).toEqual(['seq', 'h1']);
    expect(OBSERVATION_COLUMNS).toEqual(fields.map((f) => f.column));
  });

  it('the SQLite schema has exactly the declared columns (and its own seq), with their types and nullability', () => {
    const db = new Database(':memory:');
    migrate(db, Date.now());
    const cols = db.pragma('table_info(observations)') as { name: string; type: string; notnull: number }[];
    db.close();
    const sqlType: Record<ObservationFieldType, string> = { text: 'TEXT', integer: 'INTEGER', real: 'REAL', boolean: 'INTEGER', time: 'REAL' };
    // A column a later migration added with ALTER TABLE cannot be NOT NULL in SQLite (no
    // default to fill the old rows with); the store always sets it (and the migration filled it).
    const addedLater = new Set(['tenant_seq']);
    expect(cols.map((c) => c.name).filter((n) => n !== 'seq').sort()).toEqual(fields.map((f) => f.column).sort());
    for (const f of fields) {
      const c = cols.find((x) => x.name === f.column)!;
      expect([f.column, c.type, c.notnull === 1 || addedLater.has(f.column)]).toEqual([f.column, sqlType[f.type], f.required]);
    }
  });

  it('the PostgreSQL schema has exactly the declared columns, with their types and nullability', () => {
    const sql = PG_MIGRATIONS.join('\n');
    const body = /CREATE TABLE observations \(([\s\S]*?)\n\s*\);/.exec(sql)?.[1];
    expect(body).toBeDefined();
    const cols = new Map<string, string>();
    for (const line of (body ?? '').split('\n').map((l) => l.trim().replace(/,$/, ''))) {
      const m = /^([a-z_0-9]+) (.+)$/.exec(line);
      if (m !== null && m[1] !== 'UNIQUE' && m[1] !== 'PRIMARY') cols.set(m[1]!, m[2]!);
    }
    for (const m of sql.matchAll(/ALTER TABLE observations ADD COLUMN ([a-z_0-9]+) ([^;,\n]+)/g)) cols.set(m[1]!, m[2]!);
    const pgType: Record<ObservationFieldType, RegExp> = { text: /^text\b/, integer: /^(integer|bigint)\b/, real: /^double precision\b/, boolean: /^boolean\b/, time: /^double precision\b/ };
    expect([...cols.keys()].sort()).toEqual(fields.map((f) => f.column).sort());
    for (const f of fields) {
      const decl = cols.get(f.column) ?? '';
      expect([f.column, pgType[f.type].test(decl)]).toEqual([f.column, true]);
      // the primary key is NOT NULL by itself
      expect([f.column, /NOT NULL|PRIMARY KEY/.test(decl)]).toEqual([f.column, f.required]);
    }
  });

  it('the API response schema lists exactly the served fields, typed as declared; what it requires is always present', () => {
    const props = observationSchema.properties as Record<string, { type: string; format?: string }>;
    expect(Object.keys(props).sort()).toEqual(apiFields.map((f) => f.api!).sort());
    const jsonType: Record<ObservationFieldType, string> = { text: 'string', integer: 'integer', real: 'number', boolean: 'boolean', time: 'string' };
    for (const f of apiFields) {
      const p = props[f.api!]!;
      expect([f.api, p.type, p.format]).toEqual([f.api, jsonType[f.type], f.type === 'time' ? 'date-time' : undefined]);
    }
    const required = new Set(apiFields.filter((f) => f.required).map((f) => f.api));
    for (const r of observationSchema.required) expect([r, required.has(r)]).toEqual([r, true]);
  });

  it('an observation with every field set: stored, read back and served with every declared field, nothing else', () => {
    const store = Store.open(':memory:', { flushIntervalMs: 0 });
    const o: Observation = {
      obsId: 'f1', tenant: 'acme', kind: 'flow', update: false, tsUs: 1_767_000_000_123_456, lastTsUs: 1_767_000_002_000_000,
      clientAddr: '10.1.0.5', serverAddr: '160.79.104.10', serverPort: 443, proto: 6, host: 'api.anthropic.com', hostSource: 'sni',
      bytesOut: 1500.4, bytesIn: 4000.6,
      client: { side: 'orig', deviceId: 'dev-1', deviceName: 'DEV-1', hashUnknown: false, source: 'sysmon', method: 'edr', processName: 'python.exe', sha256: 'ab'.repeat(32), sha1: 'cd'.repeat(20), parentName: 'bash', lineageHash: 'ef'.repeat(32) },
      verdict: { category: 'api', provider: 'Anthropic', ruleId: 'anthropic.api', sanctioned: true },
      flow: {
        flowId: 77, communityId: '1:abc=', proto: 6, vlan: [], origAddr: '10.1.0.5', origPort: 50123, respAddr: '160.79.104.10', respPort: 443, origBy: 'syn',
        origPkts: 1, respPkts: 1, origWireBytes: 1500, respWireBytes: 4000, origCapBytes: 0, respCapBytes: 0, origIpBytes: 0, respIpBytes: 0,
        origPayloadBytes: 0, respPayloadBytes: 0, firstTsUs: 1_767_000_000_123_456, lastTsUs: 1_767_000_002_000_000, origTcpFlags: 0, respTcpFlags: 0,
        endReason: 'fin', ifIndex: 0, hostSource: 'sni', payloadEntropy: 7.5,
      },
    };
    store.insertObservation(o, { h1: true });
    store.flush();
    const [row] = store.listObservations('acme', { afterSeq: 0, limit: 10 });
    store.close();
    expect(row).toEqual({
      seq: 1, obsId: 'f1', tenant: 'acme', kind: 'flow', tsUs: o.tsUs, lastTsUs: o.lastTsUs, deviceId: 'dev-1', deviceName: 'DEV-1',
      clientAddr: '10.1.0.5', serverAddr: '160.79.104.10', serverPort: 443, proto: 6, host: 'api.anthropic.com', hostSource: 'sni',
      processName: 'python.exe', sha256: 'ab'.repeat(32), sha1: 'cd'.repeat(20), parentName: 'bash', lineageHash: 'ef'.repeat(32),
      category: 'api', provider: 'Anthropic', ruleId: 'anthropic.api', sanctioned: true, bytesOut: 1500, bytesIn: 4001, flowId: 77,
      communityId: '1:abc=', payloadEntropy: 7.5, h1: true,
    });
    expect(Object.keys(row!).sort()).toEqual(fields.map((f) => f.field).sort());
    const item = presentObservation(row!);
    expect(Object.keys(item).sort()).toEqual(apiFields.map((f) => f.api!).sort());
    expect(item).toMatchObject({ ts: '2025-12-29T09:20:00.123Z', last_ts: '2025-12-29T09:20:02.000Z', obs_id: 'f1', sanctioned: true, bytes_in: 4001 });
    // the row reader drops absent (null) columns and turns 0/1 back into booleans
    expect(toRow({ tenant_seq: 3, obs_id: 'x', sanctioned: 0, h1: 1, host: null })).toEqual({ seq: 3, obsId: 'x', sanctioned: false, h1: true });
  });
});
