/**
 * Every route through app.inject() over the real Store: status, response schema (validated
 * with ajv), nothing outside the schema (privacy), and the semantics of each route.
 */
import { gzipSync } from 'node:zlib';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertPageNativeSchema, alertPageOcsfSchema, alertSchema } from '../../src/api/schemas/alerts.js';
import { allowlistEntrySchema, allowlistListSchema, candidateListSchema, inventoryResultSchema } from '../../src/api/schemas/allowlist.js';
import { edrResultSchema } from '../../src/api/schemas/edr.js';
import { observationPageSchema } from '../../src/api/schemas/observations.js';
import { explainSchema, reloadSchema } from '../../src/api/schemas/rules.js';
import { readySchema } from '../../src/api/schemas/health.js';
import { auth, makeHarness } from './harness.js';
import type { Harness } from './harness.js';
import { makeObservation, seedTenant } from './seed.js';
import type { Seeded } from './seed.js';
import { unlistedPaths } from './schema-check.js';

const ajv = new Ajv.default({ strict: false, allErrors: true });
addFormats.default(ajv);

function conforms(schema: object, body: unknown): void {
  const validate = ajv.compile(schema);
  expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
  expect(unlistedPaths(schema as Parameters<typeof unlistedPaths>[0], body)).toEqual([]);
}

let h: Harness;
let s1: Seeded;
beforeEach(async () => {
  h = await makeHarness();
  s1 = seedTenant(h.store, 't1');
  seedTenant(h.store, 't2');
});
afterEach(async () => {
  await h.close();
});

describe('alerts', () => {
  it('pages native alerts in change order with a cursor, following to the end', async () => {
    const seen: number[] = [];
    let cursor = '';
    for (let i = 0; i < 10; i++) {
      const r = await h.app.inject({ url: `/v1/alerts?limit=1&cursor=${cursor}`, headers: auth('t1') });
      expect(r.statusCode).toBe(200);
      const body = r.json();
      conforms(alertPageNativeSchema, body);
      for (const a of body.items) seen.push(a.seq);
      cursor = body.next_cursor;
      if (!body.has_more) break;
    }
    expect(seen).toEqual(s1.alerts.map((a) => a.seq));
    // At the end the cursor stays put: polling again returns nothing new.
    const again = (await h.app.inject({ url: `/v1/alerts?cursor=${cursor}`, headers: auth('t1') })).json();
    expect(again.items).toEqual([]);
    expect(again.next_cursor).toBe(cursor);
  });

  it('filters by severity and heuristic', async () => {
    const r = (await h.app.inject({ url: '/v1/alerts?severity=critical', headers: auth('t1') })).json();
    expect(r.items.map((a: { heuristic: string }) => a.heuristic)).toEqual(['h7']);
    const r2 = (await h.app.inject({ url: '/v1/alerts?heuristic=h1&severity=critical', headers: auth('t1') })).json();
    expect(r2.items).toEqual([]);
  });

  it('serves OCSF Detection Finding objects', async () => {
    const r = await h.app.inject({ url: '/v1/alerts?format=ocsf', headers: auth('t1') });
    const body = r.json();
    conforms(alertPageOcsfSchema, body);
    const f = body.items[1];
    expect(f.class_uid).toBe(2004);
    expect(f.category_uid).toBe(2);
    expect(f.type_uid).toBe(200401);
    expect(f.severity_id).toBe(5);
    expect(f.status_id).toBe(1);
    expect(f.finding_info.uid).toBe(s1.alerts[1]?.id);
    expect(f.metadata.sequence).toBe(s1.alerts[1]?.seq);
    expect(f.evidences[0].file.hashes[0]).toMatchObject({ algorithm_id: 3, value: 'a'.repeat(64) });
  });

  it('gets one alert and updates its status, which advances the change sequence', async () => {
    const a = s1.alerts[0]!;
    const one = await h.app.inject({ url: `/v1/alerts/${a.id}`, headers: auth('t1') });
    expect(one.statusCode).toBe(200);
    conforms(alertSchema, one.json());
    expect(one.json().id).toBe(a.id);
    const upd = await h.app.inject({
      method: 'POST',
      url: `/v1/alerts/${a.id}/status`,
      headers: auth('t1'),
      payload: { status: 'acknowledged' },
    });
    expect(upd.statusCode).toBe(200);
    conforms(alertSchema, upd.json());
    expect(upd.json().status).toBe('acknowledged');
    expect(upd.json().seq).toBeGreaterThan(a.seq ?? 0);
    const ocsf = (await h.app.inject({ url: `/v1/alerts?format=ocsf&cursor=`, headers: auth('t1') })).json();
    const last = ocsf.items[ocsf.items.length - 1];
    expect(last.activity_id).toBe(2);
    expect(last.status_id).toBe(2);
  });

  it('never serializes fields the schema does not list, even when the store returns them', async () => {
    const leaky = { ...s1.alerts[0]!, commandLine: 'python3 -c "SECRET PROMPT"', user: 'CORP\\alice' };
    h.store.upsertAlert(leaky as typeof leaky);
    h.store.flush();
    for (const url of ['/v1/alerts', '/v1/alerts?format=ocsf', `/v1/alerts/${leaky.id}`]) {
      const r = await h.app.inject({ url, headers: auth('t1') });
      expect(r.statusCode).toBe(200);
      expect(r.body).not.toContain('SECRET PROMPT');
      expect(r.body).not.toContain('alice');
    }
  });
});

describe('observations', () => {
  it('pages observations and filters by provider and category; lineage/parent never leave', async () => {
    const r = await h.app.inject({ url: '/v1/observations', headers: auth('t1') });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    conforms(observationPageSchema, body);
    expect(body.items.map((o: { obs_id: string }) => o.obs_id)).toEqual(s1.obs);
    expect(body.items[0]).toMatchObject({ host: 'api.openai.com', host_source: 'sni', category: 'api', provider: 'openai', process_name: 'python3', bytes_out: 2048 });
    expect(r.body).not.toContain('LINEAGE-SECRET-HASH');
    expect(r.body).not.toContain('bash');
    const p = (await h.app.inject({ url: '/v1/observations?provider=anthropic', headers: auth('t1') })).json();
    expect(p.items.map((o: { obs_id: string }) => o.obs_id)).toEqual([s1.obs[1]]);
    const c = (await h.app.inject({ url: '/v1/observations?category=api&limit=1', headers: auth('t1') })).json();
    expect(c.items).toHaveLength(1);
    const next = (await h.app.inject({ url: `/v1/observations?category=api&cursor=${c.next_cursor}`, headers: auth('t1') })).json();
    expect(next.items).toEqual([]);
  });

  it('an observation from a SHA-1-only feed (Defender) keeps its binary identity as sha1', async () => {
    const base = makeObservation('t1');
    const { sha256: _none, ...client } = base.client!;
    h.store.insertObservation({ ...base, client: { ...client, sha1: 'd'.repeat(40), source: 'mde' } });
    h.store.flush();
    const body = (await h.app.inject({ url: '/v1/observations', headers: auth('t1') })).json();
    conforms(observationPageSchema, body);
    const o = body.items.find((x: { obs_id: string }) => x.obs_id === base.obsId);
    expect(o.sha1).toBe('d'.repeat(40));
    expect(o.sha256).toBeUndefined();
  });
});

describe('allowlist, candidates, inventory', () => {
  it('lists, adds and removes allowlist entries', async () => {
    const list = await h.app.inject({ url: '/v1/allowlist', headers: auth('t1') });
    conforms(allowlistListSchema, list.json());
    expect(list.json().items).toHaveLength(1);
    const add = await h.app.inject({
      method: 'POST',
      url: '/v1/allowlist',
      headers: auth('t1'),
      payload: { process_name: 'Cursor.exe', binary_hash: 'D'.repeat(64), provider: 'openai', justification: 'approved IDE', expires: '2030-01-01T00:00:00Z' },
    });
    expect(add.statusCode).toBe(201);
    conforms(allowlistEntrySchema, add.json());
    expect(add.json()).toMatchObject({ process_name: 'cursor.exe', binary_hash: 'd'.repeat(64), origin: 'manual', expires: '2030-01-01T00:00:00.000Z' });
    const del = await h.app.inject({ method: 'DELETE', url: `/v1/allowlist/${add.json().id}`, headers: auth('t1') });
    expect(del.statusCode).toBe(200);
    expect(del.json()).toEqual({ deleted: true });
    const again = await h.app.inject({ method: 'DELETE', url: `/v1/allowlist/${add.json().id}`, headers: auth('t1') });
    expect(again.statusCode).toBe(404);
  });

  it('refuses an entry whose expiry has already passed', async () => {
    const before = h.store.listAllowlist('t1').length;
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/allowlist',
      headers: auth('t1'),
      payload: { process_name: 'trial.exe', justification: 'trial', expires: '2024-01-31T00:00:00Z' },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toEqual({ error: { code: 'LLMTAP_ERR_REJECTED', message: 'request rejected: expires is in the past' } });
    expect(h.store.listAllowlist('t1').length).toBe(before);
  });

  it('lists and approves candidates onto the allowlist', async () => {
    const list = await h.app.inject({ url: '/v1/candidates', headers: auth('t1') });
    conforms(candidateListSchema, list.json());
    expect(list.json().items[0]).toMatchObject({ process_name: 'node', provider: 'anthropic', status: 'pending', device_count: 1 });
    expect(list.body).not.toContain('dev-t1'); // device ids are counted, not listed
    const ok = await h.app.inject({
      method: 'POST',
      url: `/v1/candidates/${s1.candidateIds[0]}/approve`,
      headers: auth('t1'),
      payload: { justification: 'team tool' },
    });
    expect(ok.statusCode).toBe(200);
    conforms(allowlistEntrySchema, ok.json());
    expect(ok.json()).toMatchObject({ process_name: 'node', origin: 'candidate' });
    const entries = (await h.app.inject({ url: '/v1/allowlist', headers: auth('t1') })).json();
    expect(entries.items).toHaveLength(2);
  });

  it('imports inventory hashes and counts the valid ones', async () => {
    const r = await h.app.inject({
      method: 'POST',
      url: '/v1/inventory',
      headers: auth('t1'),
      payload: { hashes: ['e'.repeat(64), 'F'.repeat(40)] },
    });
    expect(r.statusCode).toBe(200);
    conforms(inventoryResultSchema, r.json());
    expect(r.json()).toEqual({ received: 2, imported: 2 });
    expect(h.store.inventoryHas('t1', 'e'.repeat(64))).toBe(true);
    expect(h.store.inventoryHas('t2', 'e'.repeat(64))).toBe(false);
  });
});

describe('rules (the real classifier and default rule set)', () => {
  it('exports, explains and reloads', async () => {
    const exp = await h.app.inject({ url: '/v1/rules/export', headers: auth('t1') });
    expect(exp.statusCode).toBe(200);
    expect(exp.json()).toEqual(JSON.parse(JSON.stringify(h.classifier.exportDocument('t1'))));
    const ex = await h.app.inject({ url: '/v1/rules/explain?host=api.openai.com&process=python3&port=443', headers: auth('t1') });
    expect(ex.statusCode).toBe(200);
    conforms(explainSchema, ex.json());
    const want = h.classifier.classify({ host: 'api.openai.com', processName: 'python3', port: 443, tenant: 't1' });
    expect(want).toBeDefined();
    expect(ex.json()).toMatchObject({ matched: true, verdict: { category: want?.category, provider: want?.provider, rule_id: want?.ruleId } });
    expect(ex.json().deciding_rule.rule_id).toBe(want?.ruleId);
    expect(ex.json().rules_version).toBe(h.classifier.version);
    // an address (no name): the published range decides and is named
    const byRange = await h.app.inject({ url: '/v1/rules/explain?host=2607:6bc0::10&port=443', headers: auth('t1') });
    expect(byRange.statusCode).toBe(200);
    conforms(explainSchema, byRange.json());
    expect(byRange.json().verdict).toEqual({ category: 'api', provider: 'Anthropic', rule_id: 'anthropic-api-ranges', sanctioned: false, range: '2607:6bc0::/48' });
    const miss = (await h.app.inject({ url: '/v1/rules/explain?host=example.org', headers: auth('t1') })).json();
    expect(miss.matched).toBe(false);
    expect(miss.verdict).toBeUndefined();
    const rel = await h.app.inject({ method: 'POST', url: '/v1/rules/reload', headers: auth('op') });
    expect(rel.statusCode).toBe(200);
    conforms(reloadSchema, rel.json());
    expect(rel.json()).toEqual({ reloaded: true, rules_version: h.classifier.version });
  });
});

describe('EDR ingest', () => {
  const rec = (i: number): string => JSON.stringify({ v: 1, tenant: 't1', source: 'llmtap', i });
  it('accepts NDJSON, a JSON array, and gzip', async () => {
    const nd = await h.app.inject({
      method: 'POST',
      url: '/v1/edr/events',
      headers: { ...auth('t1'), 'content-type': 'application/x-ndjson' },
      payload: [rec(1), rec(2), 'garbage'].join('\n'),
    });
    expect(nd.statusCode).toBe(200);
    conforms(edrResultSchema, nd.json());
    expect(nd.json()).toEqual({ accepted: 2, rejected: 1, rejected_by_reason: { 'ingest.bad_json': 1 }, by_format: { llmtap: 2 } });
    const arr = await h.app.inject({
      method: 'POST',
      url: '/v1/edr/events',
      headers: { ...auth('t1'), 'content-type': 'application/json' },
      payload: `[${rec(3)}]`,
    });
    expect(arr.json().accepted).toBe(1);
    const gz = await h.app.inject({
      method: 'POST',
      url: '/v1/edr/events',
      headers: { ...auth('t1'), 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' },
      payload: gzipSync(Buffer.from([rec(4), rec(5), rec(6)].join('\n'))),
    });
    expect(gz.statusCode).toBe(200);
    expect(gz.json().accepted).toBe(3);
    expect(h.ingested.map((x) => x.tenant)).toEqual(['t1', 't1', 't1']);
    expect(h.ingested[2]?.body.toString()).toContain('"i":6');
  });
});

describe('health and docs', () => {
  it('answers healthz, readyz (both ways), openapi and metrics', async () => {
    expect((await h.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await h.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    conforms(readySchema, ready.json());
    const api = (await h.app.inject({ url: '/openapi.json' })).json();
    expect(api.openapi).toBe('3.0.3');
    for (const p of ['/v1/alerts', '/v1/alerts/{id}', '/v1/alerts/{id}/status', '/v1/observations', '/v1/usage', '/v1/allowlist', '/v1/allowlist/{id}', '/v1/candidates', '/v1/candidates/{id}/approve', '/v1/inventory', '/v1/rules/export', '/v1/rules/explain', '/v1/rules/reload', '/v1/edr/events', '/healthz', '/readyz']) {
      expect(api.paths, p).toHaveProperty([p]);
    }
    const m = await h.app.inject({ url: '/metrics' });
    expect(m.statusCode).toBe(200);
    expect(m.headers['content-type']).toContain('text/plain');
    expect(m.body).toMatch(/llmtap_api_requests_total\{route="\/openapi.json",code="200"\} 1/);
  });

  it('readyz is 503 when capture is not running or the store is closed', async () => {
    const idle = await makeHarness({}, { captureRunning: () => false });
    try {
      const r = await idle.app.inject({ url: '/readyz' });
      expect(r.statusCode).toBe(503);
      expect(r.json()).toEqual({ ready: false, capture: false, db_writable: true });
    } finally {
      await idle.close();
    }
    h.store.close();
    const r2 = await h.app.inject({ url: '/readyz' });
    expect(r2.statusCode).toBe(503);
    expect(r2.json().db_writable).toBe(false);
  });
});
