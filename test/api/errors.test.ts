/**
 * Clear, coded errors and never a stack trace: malformed queries, bad cursors, oversized
 * bodies, bad EDR batches (through the real EDR ingest on the public MDE sample), unknown
 * routes and the ingest rate limit.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ingestBody } from '../../src/attribute/ingest.js';
import type { EdrConnection } from '../../src/records.js';
import { auth, makeHarness } from './harness.js';
import type { Harness } from './harness.js';
import { looksLikeStack } from './schema-check.js';
import { seedTenant } from './seed.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MDE = join(repo, '../shared/edr/samples/mde-streaming-json/m365d-devicenetworkevents-excerpt.jsonl');
const haveMde = existsSync(MDE);
if (!haveMde && process.env['CI'] === 'true') throw new Error(`EDR sample missing: ${MDE}`);

let h: Harness;
let sunk: EdrConnection[];
beforeEach(async () => {
  sunk = [];
  h = await makeHarness(
    { bodyLimitBytes: 4096, edr: { bodyLimitBytes: 64 * 1024, inflatedLimitBytes: 256 * 1024, rateMax: 5, rateWindowMs: 60_000 } },
    { ingestEdr: (tenant, body) => ingestBody(body, undefined, { tenant, lineageKey: 'test-lineage-key' }, (r) => sunk.push(r)) },
  );
  seedTenant(h.store, 't1');
});
afterEach(async () => {
  await h.close();
});

async function expectError(res: { statusCode: number; body: string; json: () => { error: { code: string; message: string } } }, status: number, code: string): Promise<void> {
  expect(res.statusCode, res.body).toBe(status);
  const body = res.json();
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(looksLikeStack(res.body), res.body).toBe(false);
}

describe('malformed queries', () => {
  const cases: Array<[string, string]> = [
    ['/v1/alerts?limit=abc', 'limit'],
    ['/v1/alerts?limit=0', 'limit'],
    ['/v1/alerts?limit=100000', 'limit'],
    ['/v1/alerts?severity=urgent', 'severity'],
    ['/v1/alerts?heuristic=h99', 'heuristic'],
    ['/v1/alerts?format=xml', 'format'],
    ['/v1/alerts?severty=high', 'additional'],
    ['/v1/observations?category=weird', 'category'],
    ['/v1/observations?provider=api.openai.com', 'provider'],
    ['/v1/rules/explain', 'host'],
    ['/v1/rules/explain?host=a%20b', 'host'],
    ['/v1/rules/explain?host=x.com&port=70000', 'port'],
  ];
  it.each(cases)('%s → 400 naming %s', async (url, field) => {
    const res = await h.app.inject({ url, headers: auth('t1') });
    await expectError(res, 400, 'LLMTAP_ERR_BAD_QUERY');
    expect(res.json().error.message).toContain(field);
  });

  it('rejects malformed ids and bodies', async () => {
    await expectError(await h.app.inject({ url: '/v1/alerts/..%2F..%2Fetc', headers: auth('t1') }), 400, 'LLMTAP_ERR_BAD_QUERY');
    await expectError(await h.app.inject({ method: 'POST', url: '/v1/alerts/x/status', headers: auth('t1'), payload: { status: 'deleted' } }), 400, 'LLMTAP_ERR_BAD_BODY');
    await expectError(
      await h.app.inject({ method: 'POST', url: '/v1/alerts/x/status', headers: { ...auth('t1'), 'content-type': 'application/json' }, payload: '{"status":' }),
      400,
      'LLMTAP_ERR_BAD_BODY',
    );
    await expectError(await h.app.inject({ method: 'POST', url: '/v1/allowlist', headers: auth('t1'), payload: { process_name: 'a/b', justification: 'x' } }), 400, 'LLMTAP_ERR_BAD_BODY');
    await expectError(await h.app.inject({ method: 'POST', url: '/v1/inventory', headers: auth('t1'), payload: { hashes: ['zz'] } }), 400, 'LLMTAP_ERR_BAD_BODY');
    await expectError(await h.app.inject({ method: 'DELETE', url: '/v1/allowlist/abc', headers: auth('t1') }), 404, 'LLMTAP_ERR_NOT_FOUND');
    await expectError(
      await h.app.inject({ method: 'POST', url: '/v1/alerts/x/status', headers: { ...auth('t1'), 'content-type': 'text/xml' }, payload: '<a/>' }),
      415,
      'LLMTAP_ERR_UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it('answers unknown routes with a coded 404', async () => {
    await expectError(await h.app.inject({ url: '/v2/everything' }), 404, 'LLMTAP_ERR_NO_ROUTE');
  });
});

describe('bad cursors', () => {
  it('rejects garbage, truncated, tampered and cross-list cursors', async () => {
    const page = (await h.app.inject({ url: '/v1/alerts?limit=1', headers: auth('t1') })).json();
    const good = page.next_cursor as string;
    const raw = Buffer.from(good, 'base64url');
    raw.writeUInt8(raw.readUInt8(8) ^ 1, 8); // seq + 1 without re-signing
    const obsCursor = (await h.app.inject({ url: '/v1/observations?limit=1', headers: auth('t1') })).json().next_cursor as string;
    for (const bad of ['garbage', good.slice(0, 20), raw.toString('base64url'), obsCursor, '%00%01', 'A'.repeat(64)]) {
      const res = await h.app.inject({ url: `/v1/alerts?cursor=${bad}`, headers: auth('t1') });
      await expectError(res, 400, 'LLMTAP_ERR_BAD_CURSOR');
    }
    await expectError(await h.app.inject({ url: `/v1/alerts?cursor=${'A'.repeat(65)}`, headers: auth('t1') }), 400, 'LLMTAP_ERR_BAD_QUERY');
    expect((await h.app.inject({ url: `/v1/alerts?cursor=${good}`, headers: auth('t1') })).statusCode).toBe(200);
  });
});

describe('oversized bodies', () => {
  it('answers 413 on JSON routes over the body limit', async () => {
    const hashes = Array.from({ length: 200 }, () => 'e'.repeat(64));
    await expectError(await h.app.inject({ method: 'POST', url: '/v1/inventory', headers: auth('t1'), payload: { hashes } }), 413, 'LLMTAP_ERR_BODY_TOO_LARGE');
  });

  it('answers 413 on EDR batches over the wire limit and on gzip bombs', async () => {
    const big = Buffer.alloc(65 * 1024, 0x20);
    await expectError(
      await h.app.inject({ method: 'POST', url: '/v1/edr/events', headers: { ...auth('t1'), 'content-type': 'application/x-ndjson' }, payload: big }),
      413,
      'LLMTAP_ERR_BODY_TOO_LARGE',
    );
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20)); // ~10 KiB on the wire, 10 MiB inflated
    expect(bomb.length).toBeLessThan(64 * 1024);
    await expectError(
      await h.app.inject({
        method: 'POST',
        url: '/v1/edr/events',
        headers: { ...auth('t1'), 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' },
        payload: bomb,
      }),
      413,
      'LLMTAP_ERR_BODY_TOO_LARGE',
    );
  });
});

describe('EDR batches through the real ingest', () => {
  const post = (payload: string | Buffer, headers: Record<string, string> = {}) =>
    h.app.inject({ method: 'POST', url: '/v1/edr/events', headers: { ...auth('t1'), 'content-type': 'application/x-ndjson', ...headers }, payload });

  it.skipIf(!haveMde)('accepts the public MDE DeviceNetworkEvents sample, plain and gzip', async () => {
    const text = readFileSync(MDE);
    const res = await post(text);
    expect(res.statusCode, res.body).toBe(200);
    const r = res.json();
    expect(r.accepted).toBeGreaterThan(0);
    expect(r.by_format['mde']).toBe(5);
    expect(sunk.length).toBe(r.accepted);
    expect(sunk.every((c) => c.tenant === 't1' && c.source === 'mde')).toBe(true);
    const gz = await post(gzipSync(text), { 'content-encoding': 'gzip' });
    expect(gz.json().accepted).toBe(r.accepted);
  });

  it('rejects batches with no valid record, bad gzip, unknown encodings and wrong media types', async () => {
    // (at most 5 requests reach the handler: the test app's rate limit)
    const msg = (await post('nope')).json().error.message as string;
    expect(msg).toContain('ingest.bad_json');
    expect(msg).not.toContain('nope');
    await expectError(await post('this is not json\n{also not'), 400, 'LLMTAP_ERR_BAD_EDR_BATCH');
    await expectError(await post('[{"hello":"world"}]', { 'content-type': 'application/json' }), 400, 'LLMTAP_ERR_BAD_EDR_BATCH');
    await expectError(await post(Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' }), 400, 'LLMTAP_ERR_BAD_ENCODING');
    await expectError(await post(Buffer.from('{}'), { 'content-encoding': 'br' }), 400, 'LLMTAP_ERR_BAD_ENCODING');
    await expectError(await post('<xml/>', { 'content-type': 'text/xml' }), 415, 'LLMTAP_ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  it('rate-limits ingest per tenant with 429', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push((await post('x')).statusCode);
    expect(codes.slice(0, 5)).toEqual([400, 400, 400, 400, 400]);
    const limited = await post('x');
    await expectError(limited, 429, 'LLMTAP_ERR_RATE_LIMITED');
    // Another tenant has its own budget.
    const other = await h.app.inject({ method: 'POST', url: '/v1/edr/events', headers: { ...auth('t2'), 'content-type': 'application/x-ndjson' }, payload: 'x' });
    expect(other.statusCode).toBe(400);
  });
});
