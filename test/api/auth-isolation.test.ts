/**
 * Authentication and tenant isolation on every /v1 route: 401 without or with a bad token,
 * 404 for another tenant's ids, and lists that never contain another tenant's rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, makeHarness } from './harness.js';
import type { Harness } from './harness.js';
import { seedTenant } from './seed.js';
import type { Seeded } from './seed.js';
import { looksLikeStack } from './schema-check.js';

let h: Harness;
let s1: Seeded;
let s2: Seeded;
beforeAll(async () => {
  h = await makeHarness();
  s1 = seedTenant(h.store, 't1');
  s2 = seedTenant(h.store, 't2');
});
afterAll(async () => {
  await h.close();
});

type Req = { method: 'GET' | 'POST' | 'DELETE'; url: string; payload?: object | string; headers?: Record<string, string> };

/** Every authenticated route, addressed at tenant 1's rows. */
function routesAt(s: Seeded): Req[] {
  return [
    { method: 'GET', url: '/v1/alerts' },
    { method: 'GET', url: `/v1/alerts/${s.alerts[0]!.id}` },
    { method: 'POST', url: `/v1/alerts/${s.alerts[0]!.id}/status`, payload: { status: 'closed' } },
    { method: 'GET', url: '/v1/observations' },
    { method: 'GET', url: '/v1/usage?window=24h&group=device,provider' },
    { method: 'GET', url: '/v1/allowlist' },
    { method: 'POST', url: '/v1/allowlist', payload: { process_name: 'x', justification: 'y' } },
    { method: 'DELETE', url: `/v1/allowlist/${s.allowIds[0]}` },
    { method: 'GET', url: '/v1/candidates' },
    { method: 'POST', url: `/v1/candidates/${s.candidateIds[0]}/approve`, payload: { justification: 'ok' } },
    { method: 'POST', url: '/v1/inventory', payload: { hashes: ['e'.repeat(64)] } },
    { method: 'GET', url: '/v1/rules/export' },
    { method: 'GET', url: '/v1/rules/explain?host=api.openai.com' },
    { method: 'POST', url: '/v1/rules/reload' },
    { method: 'POST', url: '/v1/edr/events', payload: '{"v":1}', headers: { 'content-type': 'application/x-ndjson' } },
  ];
}

describe('authentication', () => {
  const bad: Array<[string, Record<string, string>]> = [
    ['no header', {}],
    ['wrong token', { authorization: 'Bearer not-a-token' }],
    ['basic scheme', { authorization: `Basic ${Buffer.from('t1:x').toString('base64')}` }],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['token with a suffix', { authorization: `${auth('t1')['authorization']}x` }],
    ['huge header', { authorization: `Bearer ${'a'.repeat(5000)}` }],
  ];
  it('answers 401 with a coded error on every route, before touching data', async () => {
    const before = h.store.listAlertChanges('t1', { afterSeq: 0, limit: 100 }).length;
    for (const r of routesAt(s1)) {
      for (const [name, headers] of bad) {
        const res = await h.app.inject({ method: r.method, url: r.url, headers: { ...r.headers, ...headers }, ...(r.payload !== undefined ? { payload: r.payload } : {}) });
        expect(res.statusCode, `${r.method} ${r.url} ${name}`).toBe(401);
        expect(res.json()).toEqual({ error: { code: 'LLMTAP_ERR_UNAUTHORIZED', message: 'missing or invalid bearer token' } });
      }
    }
    expect(h.store.listAlertChanges('t1', { afterSeq: 0, limit: 100 }).length).toBe(before);
    expect(h.ingested).toHaveLength(0);
  });

  it('leaves health, readiness, operational metrics and the OpenAPI document open', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
      expect((await h.app.inject({ url })).statusCode, url).toBe(200);
    }
  });
});

describe('tenant isolation', () => {
  it('answers 404 for another tenant’s ids on every id route, and changes nothing', async () => {
    const idRoutes = routesAt(s1).filter((r) => /\/(alerts|allowlist|candidates)\/[^/?]+/.test(r.url));
    expect(idRoutes.length).toBe(4);
    for (const r of idRoutes) {
      const res = await h.app.inject({ method: r.method, url: r.url, headers: auth('t2'), ...(r.payload !== undefined ? { payload: r.payload } : {}) });
      expect(res.statusCode, `${r.method} ${r.url}`).toBe(404);
      expect(res.json().error.code).toBe('LLMTAP_ERR_NOT_FOUND');
    }
    // Tenant 1's rows are untouched.
    expect(h.store.getAlert('t1', s1.alerts[0]!.id)?.status).toBe('open');
    expect(h.store.listAllowlist('t1').map((e) => e.id)).toEqual(s1.allowIds);
    expect(h.store.listCandidates('t1')[0]?.status).toBe('pending');
    // Unknown ids look the same as other tenants' ids.
    const unknown = await h.app.inject({ url: '/v1/alerts/no-such-alert', headers: auth('t2') });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toBe((await h.app.inject({ url: `/v1/alerts/${s1.alerts[0]!.id}`, headers: auth('t2') })).body);
  });

  it('lists only the caller’s rows on every list route', async () => {
    const lists: Array<[string, (b: { items: Array<Record<string, unknown>> }) => unknown[], unknown[]]> = [
      ['/v1/alerts', (b) => b.items.map((a) => a['id']), s2.alerts.map((a) => a.id)],
      ['/v1/alerts?format=ocsf', (b) => b.items.map((a) => (a['finding_info'] as { uid: string }).uid), s2.alerts.map((a) => a.id)],
      ['/v1/observations', (b) => b.items.map((o) => o['obs_id']), s2.obs],
      ['/v1/allowlist', (b) => b.items.map((e) => e['id']), s2.allowIds.map(String)],
      ['/v1/candidates', (b) => b.items.map((c) => c['id']), s2.candidateIds.map(String)],
    ];
    for (const [url, ids, want] of lists) {
      const res = await h.app.inject({ url, headers: auth('t2') });
      expect(res.statusCode, url).toBe(200);
      expect(ids(res.json()), url).toEqual(want);
      expect(res.body, url).not.toContain('dev-t1');
    }
  });

  it('rejects another tenant’s cursor', async () => {
    const c1 = (await h.app.inject({ url: '/v1/alerts?limit=1', headers: auth('t1') })).json().next_cursor as string;
    const res = await h.app.inject({ url: `/v1/alerts?cursor=${c1}`, headers: auth('t2') });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('LLMTAP_ERR_BAD_CURSOR');
  });

  it('hands EDR batches to the ingest under the caller’s tenant only', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/edr/events',
      headers: { ...auth('t2'), 'content-type': 'application/x-ndjson' },
      payload: JSON.stringify({ v: 1, tenant: 't1' }),
    });
    expect(res.statusCode).toBe(200);
    expect(h.ingested.at(-1)?.tenant).toBe('t2');
    expect(looksLikeStack(res.body)).toBe(false);
  });
});
