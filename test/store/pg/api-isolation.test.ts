/**
 * Tenant isolation on every /v1 route over the PostgreSQL store (a real PostgreSQL 15): another
 * tenant's ids answer 404 and change nothing, lists and the usage summary hold only the caller's
 * rows, a cursor of one tenant is refused for another, and the routes that write (status,
 * allowlist, candidates, inventory) act on the caller's rows only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgStore } from '../../../src/store/pg/store.js';
import { auth, makeHarness, type Harness } from '../../api/harness.js';
import { makeAlert, makeObservation } from '../../api/seed.js';
import { usePostgres } from '../../helpers/postgres.js';

const postgres = usePostgres();
let store: PgStore;
let h: Harness;

interface Seeded {
  alerts: string[];
  obs: string[];
  allowIds: number[];
  candidateIds: number[];
}

/** Two alerts, two observations, one allowlist entry and one candidate for `tenant`. */
async function seed(s: PgStore, tenant: string): Promise<Seeded> {
  const alerts = [s.upsertAlert(makeAlert(tenant, 'h1', 'high')), s.upsertAlert(makeAlert(tenant, 'h7', 'critical'))].map((a) => a.id);
  const o1 = makeObservation(tenant);
  const o2 = makeObservation(tenant, { verdict: { category: 'assistant', provider: 'anthropic', ruleId: 'claude', sanctioned: false } });
  s.insertObservation(o1);
  s.insertObservation(o2);
  s.upsertCandidate(tenant, { processName: 'node', provider: 'anthropic', category: 'api', deviceId: `dev-${tenant}`, obsId: o2.obsId, tsUs: o2.tsUs });
  const allow = await s.addAllowlist(tenant, { processName: 'code', justification: 'IDE approved' });
  await s.commit();
  const cands = await s.listCandidates(tenant);
  return { alerts, obs: [o1.obsId, o2.obsId], allowIds: [allow.id], candidateIds: cands.map((c) => c.id) };
}

let s1: Seeded;
let s2: Seeded;

beforeAll(async () => {
  if (!postgres.present) return;
  store = await PgStore.open(await postgres.server.createDatabase('iso'), { flushIntervalMs: 0 });
  h = await makeHarness({}, { store });
  s1 = await seed(store, 't1');
  s2 = await seed(store, 't2');
}, 120_000);
afterAll(async () => {
  await h?.close();
  await store?.close();
}, 60_000);

type Req = { method: 'GET' | 'POST' | 'DELETE'; url: string; payload?: object };

describe.skipIf(!postgres.present)('tenant isolation over PostgreSQL', () => {
  it('seeds distinct rows per tenant', () => {
    expect(s1.candidateIds).toHaveLength(1);
    expect(s2.candidateIds).toHaveLength(1);
    expect(s1.candidateIds[0]).not.toBe(s2.candidateIds[0]);
    expect(s1.allowIds[0]).not.toBe(s2.allowIds[0]);
  });

  it('answers 404 for another tenant’s ids on every id route, and changes nothing', async () => {
    const idRoutes: Req[] = [
      { method: 'GET', url: `/v1/alerts/${s1.alerts[0]}` },
      { method: 'POST', url: `/v1/alerts/${s1.alerts[0]}/status`, payload: { status: 'closed' } },
      { method: 'DELETE', url: `/v1/allowlist/${s1.allowIds[0]}` },
      { method: 'POST', url: `/v1/candidates/${s1.candidateIds[0]}/approve`, payload: { justification: 'ok' } },
    ];
    const before = await store.listAlertChanges('t1', { afterSeq: 0, limit: 100 });
    for (const r of idRoutes) {
      const res = await h.app.inject({ method: r.method, url: r.url, headers: auth('t2'), ...(r.payload !== undefined ? { payload: r.payload } : {}) });
      expect(res.statusCode, `${r.method} ${r.url}`).toBe(404);
      expect(res.json().error.code).toBe('LLMTAP_ERR_NOT_FOUND');
    }
    expect((await store.getAlert('t1', s1.alerts[0]!))?.status).toBe('open');
    expect(await store.listAlertChanges('t1', { afterSeq: 0, limit: 100 })).toEqual(before);
    expect((await store.listAllowlist('t1')).map((e) => e.id)).toEqual(s1.allowIds);
    expect((await store.listCandidates('t1'))[0]?.status).toBe('pending');
    const unknown = await h.app.inject({ url: '/v1/alerts/no-such-alert', headers: auth('t2') });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toBe((await h.app.inject({ url: `/v1/alerts/${s1.alerts[0]}`, headers: auth('t2') })).body);
  });

  it('lists only the caller’s rows on every list route', async () => {
    const lists: Array<[string, (b: { items: Array<Record<string, unknown>> }) => unknown[], unknown[]]> = [
      ['/v1/alerts', (b) => b.items.map((a) => a['id']), s2.alerts],
      ['/v1/alerts?format=ocsf', (b) => b.items.map((a) => (a['finding_info'] as { uid: string }).uid), s2.alerts],
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
    // each tenant's change numbers start at 1
    const seqs = (await h.app.inject({ url: '/v1/alerts', headers: auth('t2') })).json().items.map((a: { seq: number }) => a.seq);
    expect(seqs).toEqual([1, 2]);
  });

  it('summarizes usage over the caller’s observations only', async () => {
    const res = await h.app.inject({ url: `/v1/usage?window=90d&until=${new Date(1_700_000_000_000 + 86_400_000).toISOString()}&group=device`, headers: auth('t2') });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as { items: Array<{ device: string; connections: number }>; total: { connections: number } };
    expect(body.items.map((i) => [i.device, i.connections])).toEqual([['dev-t2', 2]]);
    expect(body.total.connections).toBe(2);
  });

  it('rejects another tenant’s cursor', async () => {
    const c1 = (await h.app.inject({ url: '/v1/alerts?limit=1', headers: auth('t1') })).json().next_cursor as string;
    const res = await h.app.inject({ url: `/v1/alerts?cursor=${c1}`, headers: auth('t2') });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('LLMTAP_ERR_BAD_CURSOR');
  });

  it('writes through the API land in the caller’s tenant only', async () => {
    const st = await h.app.inject({ method: 'POST', url: `/v1/alerts/${s2.alerts[0]}/status`, headers: auth('t2'), payload: { status: 'acknowledged' } });
    expect(st.statusCode, st.body).toBe(200);
    expect(st.json()).toMatchObject({ id: s2.alerts[0], status: 'acknowledged', seq: 3 });
    const add = await h.app.inject({ method: 'POST', url: '/v1/allowlist', headers: auth('t2'), payload: { process_name: 'Cursor', justification: 'editor' } });
    expect(add.statusCode, add.body).toBe(201);
    const approve = await h.app.inject({ method: 'POST', url: `/v1/candidates/${s2.candidateIds[0]}/approve`, headers: auth('t2'), payload: { justification: 'ok' } });
    expect(approve.statusCode, approve.body).toBe(200);
    const inv = await h.app.inject({ method: 'POST', url: '/v1/inventory', headers: auth('t2'), payload: { hashes: ['e'.repeat(64), 'F'.repeat(40)] } });
    expect(inv.json()).toEqual({ received: 2, imported: 2 });
    // tenant 2 sees its writes; tenant 1's rows and detection state are as seeded
    expect((await store.listAllowlist('t2')).map((e) => [e.processName, e.origin])).toEqual([['code', 'manual'], ['cursor', 'manual'], ['node', 'candidate']]);
    expect((await store.listAllowlist('t1')).map((e) => e.processName)).toEqual(['code']);
    expect((await store.listCandidates('t1'))[0]?.status).toBe('pending');
    expect((await store.listCandidates('t2'))[0]?.status).toBe('approved');
    expect(store.inventoryFirstSeen('t2', 'e'.repeat(64))).toBe(0);
    expect(store.inventoryFirstSeen('t2', 'f'.repeat(40))).toBe(0);
    expect(store.inventoryFirstSeen('t1', 'e'.repeat(64))).toBeUndefined();
    expect(store.isAllowlisted('t2', { processName: 'cursor', deviceGroups: [], provider: 'openai', category: 'api', atMs: 0 })?.justification).toBe('editor');
    expect(store.isAllowlisted('t1', { processName: 'cursor', deviceGroups: [], provider: 'openai', category: 'api', atMs: 0 })).toBeUndefined();
    expect((await store.getAlert('t1', s1.alerts[0]!))?.status).toBe('open');
    // a closed alert no longer takes new hits: detection's memory follows the API
    const close = await h.app.inject({ method: 'POST', url: `/v1/alerts/${s2.alerts[0]}/status`, headers: auth('t2'), payload: { status: 'closed' } });
    expect(close.json()).toMatchObject({ status: 'closed', seq: 4 });
    const a = store.peekAlert('t2', s2.alerts[0]!)!;
    expect(a.status).toBe('closed');
    expect(store.openAlertByKey('t2', 'h1|dev:' + a.deviceId + '|python3|openai')).toBeUndefined();
  });
});
