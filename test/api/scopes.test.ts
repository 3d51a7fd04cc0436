/**
 * Token scopes: a tenant's token sees the default rules plus its own tenant rules and nothing
 * global; an operator's token reaches the global routes (rule reload, the full metrics) and no
 * tenant data; /metrics without a token shows operational series only. Also the transport-level
 * refusals (400/414/431) answer with the coded body and never echo the URL, and the alert page
 * says its Content-Type.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { Classifier, DEFAULT_RULES_PATH } from '../../src/classify/classifier.js';
import { createMetrics } from '../../src/metrics.js';
import { TOKENS, auth, makeHarness } from './harness.js';
import type { Harness } from './harness.js';
import { seedTenant } from './seed.js';
import { StageFeed } from './stage-feed.js';

const TENANT_RULES = join(import.meta.dirname, '../classify/fixtures/tenants');
const ACME = 'token-of-acme-aaaaaaaaaaaaaaaaaa';
const GLOBEX = 'token-of-globex-gggggggggggggggg';
const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

let h: Harness;
let classifier: Classifier;
const feed = new StageFeed();
beforeAll(async () => {
  classifier = Classifier.fromFiles({ rules: DEFAULT_RULES_PATH, tenantDir: TENANT_RULES });
  const metrics = createMetrics(feed.sources(), { defaultMetrics: false });
  feed.step();
  h = await makeHarness(
    {
      tenants: [
        { tenant: 'acme', tokenSha256: hashToken(ACME) },
        { tenant: 'globex', tokenSha256: hashToken(GLOBEX) },
        { tenant: 't1', tokenSha256: hashToken(TOKENS.t1) },
      ],
    },
    { classifier, registry: metrics.registry, publicRegistry: metrics.publicRegistry, apiRequests: metrics.apiRequests },
  );
  seedTenant(h.store, 't1');
});
afterAll(async () => {
  await h.close();
});

type Doc = { version: string; rules: Array<{ id: string }>; tenants: Array<{ tenant: string; rules: Array<{ id: string; order: number; source: string }> }> };

describe('GET /v1/rules/export', () => {
  it("gives a tenant the default rules plus its own, never another tenant's", async () => {
    const full = classifier.exportDocument() as Doc;
    expect(full.tenants.map((t) => t.tenant)).toEqual(['acme', 'globex']);
    const g = await h.app.inject({ url: '/v1/rules/export', headers: bearer(GLOBEX) });
    expect(g.statusCode).toBe(200);
    const gd = g.json() as Doc;
    expect(gd.rules.map((r) => r.id)).toEqual(full.rules.map((r) => r.id));
    // The same rules as in the whole set (their evaluation `order` is renumbered without acme's).
    const noOrder = (d: Doc): unknown => d.tenants.map((t) => ({ ...t, rules: t.rules.map(({ order: _o, ...r }) => r) }));
    expect(noOrder(gd)).toEqual(noOrder({ ...full, tenants: [full.tenants[1]!] }));
    // Nothing of acme's file: its name, its sanctioned endpoints, its contract note.
    for (const s of ['acme', 'Acme enterprise agreement', 'llm-gw.acme.internal', 'agents.acme.example']) expect(g.body).not.toContain(s);
    expect(gd.version).not.toBe(full.version);
    const a = (await h.app.inject({ url: '/v1/rules/export', headers: bearer(ACME) })).json() as Doc;
    expect(a.tenants.map((t) => t.tenant)).toEqual(['acme']);
    expect(a.tenants[0]?.rules.map((r) => r.id)).toEqual(['acme-openai-contract', 'acme-llm-gateway', 'acme-research-agent', 'acme-mistral-proxy']);
    expect(JSON.stringify(a)).not.toContain('globex');
    // A tenant without rule files gets the default rules only.
    const t1 = (await h.app.inject({ url: '/v1/rules/export', headers: auth('t1') })).json() as Doc;
    expect(t1.tenants).toEqual([]);
    // The operator's export is the whole set.
    const op = await h.app.inject({ url: '/v1/rules/export', headers: auth('op') });
    expect(op.json()).toEqual(JSON.parse(JSON.stringify(full)));
  });

  it("explains with the tenant's rules version, not the whole set's", async () => {
    const r = (await h.app.inject({ url: '/v1/rules/explain?host=api.openai.com', headers: bearer(GLOBEX) })).json() as { rules_version: string; reasons: string[] };
    expect(r.rules_version).toBe((classifier.exportDocument('globex') as Doc).version);
    expect(JSON.stringify(r)).not.toContain('acme');
  });
});

describe('global routes need an operator token', () => {
  it('POST /v1/rules/reload: 403 for a tenant token, 200 for the operator', async () => {
    for (const headers of [bearer(ACME), auth('t1')]) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/rules/reload', headers });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual({ error: { code: 'LLMTAP_ERR_FORBIDDEN', message: 'token not allowed on this route: this route needs an operator token' } });
    }
    const ok = await h.app.inject({ method: 'POST', url: '/v1/rules/reload', headers: auth('op') });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ reloaded: true, rules_version: classifier.version });
  });

  it("an operator token reads no tenant's data", async () => {
    for (const url of ['/v1/alerts', '/v1/observations', '/v1/usage', '/v1/allowlist', '/v1/candidates', '/v1/rules/explain?host=api.openai.com']) {
      const res = await h.app.inject({ url, headers: auth('op') });
      expect(res.statusCode, url).toBe(403);
      expect(res.json().error.code).toBe('LLMTAP_ERR_FORBIDDEN');
    }
  });
});

describe('GET /metrics', () => {
  const AI_SERIES = /^llmtap_(classify|detect)_/m;
  it('without a token: operational series only, no AI traffic or alert counts', async () => {
    const res = await h.app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('llmtap_source_packets_total 1000');
    expect(res.body).toContain('llmtap_edr_records_total');
    expect(res.body).not.toMatch(AI_SERIES);
    expect(res.body).not.toContain('provider=');
    expect(res.body).not.toContain('heuristic=');
  });

  it('with the operator token: every series; a tenant token is refused, a bad one is 401', async () => {
    const op = await h.app.inject({ url: '/metrics', headers: auth('op') });
    expect(op.statusCode).toBe(200);
    expect(op.body).toContain('llmtap_classify_ai_bytes_total{provider="openai",direction="out"} 5000');
    expect(op.body).toContain('llmtap_detect_alerts_total{heuristic="h7",severity="critical"} 1');
    expect(op.body).toContain('llmtap_source_packets_total 1000');
    const t = await h.app.inject({ url: '/metrics', headers: bearer(ACME) });
    expect(t.statusCode).toBe(403);
    expect(t.json().error.code).toBe('LLMTAP_ERR_FORBIDDEN');
    const bad = await h.app.inject({ url: '/metrics', headers: bearer('nope') });
    expect(bad.statusCode).toBe(401);
  });
});

/** A raw request over a socket: the status line, headers and body as sent. */
function raw(base: URL, text: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    {
      const s = connect(Number(base.port), base.hostname, () => s.end(text));
      const chunks: Buffer[] = [];
      s.on('data', (c) => chunks.push(c));
      s.on('error', reject);
      s.on('close', () => {
        const all = Buffer.concat(chunks).toString('latin1');
        const [head = '', body = ''] = all.split('\r\n\r\n', 2);
        const [status = '', ...lines] = head.split('\r\n');
        const headers: Record<string, string> = {};
        for (const l of lines) {
          const i = l.indexOf(':');
          headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
        }
        resolve({ status: Number(status.split(' ')[1]), headers, body });
      });
    }
  });
}

describe('transport-level errors use the coded body and never echo the URL', () => {
  let base: URL;
  beforeAll(async () => {
    base = new URL(await h.app.listen({ host: '127.0.0.1', port: 0 }));
  });
  const tok = `Authorization: Bearer ${TOKENS.t1}\r\n`;

  it('414 for an over-long path segment', async () => {
    const r = await raw(base, `GET /v1/alerts/${'x'.repeat(300)}SECRETPATH HTTP/1.1\r\nHost: x\r\n${tok}Connection: close\r\n\r\n`);
    expect(r.status).toBe(414);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(r.body)).toEqual({ error: { code: 'LLMTAP_ERR_URI_TOO_LONG', message: 'request URI too long' } });
  });

  it('400 for a URL that does not decode', async () => {
    const r = await raw(base, `GET /v1/alerts/%E0%A4%ASECRETPATH HTTP/1.1\r\nHost: x\r\n${tok}Connection: close\r\n\r\n`);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toEqual({ error: { code: 'LLMTAP_ERR_BAD_REQUEST', message: 'malformed request' } });
  });

  it('431 for a request line and headers over the limit (a very long URL too)', async () => {
    for (const text of [
      `GET /v1/alerts?cursor=SECRETQUERY${'y'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n${tok}\r\n`,
      `GET /v1/alerts HTTP/1.1\r\nHost: x\r\n${tok}X-Big: SECRETHEADER${'z'.repeat(20_000)}\r\n\r\n`,
    ]) {
      const r = await raw(base, text);
      expect(r.status).toBe(431);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(r.body)).toEqual({ error: { code: 'LLMTAP_ERR_HEADERS_TOO_LARGE', message: 'request header fields too large' } });
    }
  });

  it('400 coded for a request Node cannot parse', async () => {
    const r = await raw(base, 'GARBAGE\r\n\r\n');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toEqual({ error: { code: 'LLMTAP_ERR_BAD_REQUEST', message: 'malformed request' } });
  });

  it('GET /v1/alerts answers with a JSON Content-Type in both formats', async () => {
    for (const q of ['', '?format=ocsf']) {
      const res = await fetch(new URL(`/v1/alerts${q}`, base), { headers: auth('t1') });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(((await res.json()) as { items: unknown[] }).items.length).toBeGreaterThan(0);
    }
  });
});
