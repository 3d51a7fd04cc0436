/**
 * The EDR tenant a record names is checked against the feed's credential (docs/edr-join.md §3.3):
 * Microsoft Defender streaming records carry the Entra `tenantId`; a record of tenant X posted
 * with tenant Y's token is rejected and counted, never filed under Y. Real data: the shared
 * Defender streaming excerpt, through the real API, ingest and pipeline.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEdrText } from '../../src/attribute/ingest.js';
import { startApi } from '../../src/sensor/api.js';
import { configFromObject } from '../../src/config.js';
import { Pipeline } from '../../src/pipeline.js';
import { Store } from '../../src/store/store.js';
import { TenantResolver } from '../../src/tenants/resolver.js';
import { parseTenants } from '../../src/tenants/schema.js';
import { edrSamplesDir } from '../helpers/edr-needles.js';

const samples = edrSamplesDir();
/** The excerpt's five records all name this Entra tenant. */
const SAMPLE_TENANT = '12345af3-bc0e-4f36-b08e-27759e912345';
const TOKENS = { acme: 'edr-tenant-test-acme-0123456789', globex: 'edr-tenant-test-globex-012345678', solo: 'edr-tenant-test-solo-0123456789' };
const sha = (t: string): string => createHash('sha256').update(t).digest('hex');

describe('EDR tenant ids against the credential (resolver)', () => {
  const r = new TenantResolver(
    parseTenants([
      { id: 'acme', edr_tenant_ids: ['AAAA-1'] },
      { id: 'globex', edr_tenant_ids: ['gggg-2', 'gggg-3'] },
      { id: 'solo' },
    ]),
  );
  it('accepts the tenant’s own ids (any case), refuses ids another tenant claims', () => {
    expect(r.edrTenantMatches('acme', 'aaaa-1')).toBe(true);
    expect(r.edrTenantMatches('globex', 'GGGG-3')).toBe(true);
    expect(r.edrTenantMatches('globex', 'aaaa-1')).toBe(false);
    expect(r.edrTenantMatches('solo', 'AAAA-1')).toBe(false);
  });
  it('a tenant listing ids refuses unknown ones; one listing none accepts unclaimed ids', () => {
    expect(r.edrTenantMatches('acme', 'zzzz-9')).toBe(false);
    expect(r.edrTenantMatches('solo', 'zzzz-9')).toBe(true);
    expect(r.edrTenantMatches('default', 'zzzz-9')).toBe(true);
  });
});

describe('CrowdStrike FDR customer id (cid) against the credential', () => {
  it('keeps records of the credential’s cid and counts the others', () => {
    const net = (cid: string, id: string): string =>
      JSON.stringify({ event_simpleName: 'NetworkConnectIP4', aid: 'AID1', cid, ContextProcessId: '777', LocalAddressIP4: '10.0.0.2', LocalPort: '50001', RemoteAddressIP4: '104.18.6.192', RemotePort: '443', Protocol: '6', ConnectionDirection: '0', ContextTimeStamp: '1682707777.731', id });
    const r = new TenantResolver(parseTenants([{ id: 'acme', edr_tenant_ids: ['cid-acme'] }, { id: 'globex', edr_tenant_ids: ['cid-globex'] }]));
    const recs: string[] = [];
    const res = parseEdrText(
      [net('cid-acme', 'e1'), net('cid-globex', 'e2'), net('CID-ACME', 'e3')].join('\n'),
      { tenant: 'acme', lineageKey: 'k', edrTenantOk: (id) => r.edrTenantMatches('acme', id) },
      (rec) => recs.push(`${rec.tenant}:${rec.sourceEventId ?? ''}`),
    );
    expect(recs).toEqual(['acme:e1', 'acme:e3']);
    expect(res.rejected).toEqual({ 'fdr.tenant_mismatch': 1 });
  });
});

describe.skipIf(samples === undefined)('EDR tenant ids against the credential (API ingest, Defender sample)', () => {
  let tmp: string;
  let store: Store;
  let pipeline: Pipeline;
  let app: FastifyInstance | undefined;
  let base: string;
  let body: string;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'llmtap-edr-tenant-'));
    body = readFileSync(join(samples ?? '', 'mde-streaming-json', 'm365d-devicenetworkevents-excerpt.jsonl'), 'utf8');
    expect(body.match(new RegExp(`"tenantId":"${SAMPLE_TENANT}"`, 'g'))?.length).toBe(5);
    const cfg = configFromObject({
      tenants: [
        { id: 'acme', edr_tenant_ids: [SAMPLE_TENANT.toUpperCase()] },
        { id: 'globex', edr_tenant_ids: ['0f0f0f0f-0000-4000-8000-00000000beef'] },
        { id: 'solo' },
      ],
      api: {
        host: '127.0.0.1',
        port: 0,
        tokens: Object.entries(TOKENS).map(([tenant, t]) => ({ tenant, token_sha256: sha(t) })),
        operator_tokens: [{ name: 'ops', token_sha256: sha('edr-tenant-test-operator-000000') }],
      },
    });
    store = Store.open(join(tmp, 'llmtap.db'), { flushIntervalMs: 0 });
    pipeline = new Pipeline(cfg, { store });
    const origErr = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write; // startApi's "listening" line
    try {
      app = await startApi(cfg, store, pipeline);
    } finally {
      process.stderr.write = origErr;
    }
    const addr = app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
  });
  afterAll(async () => {
    await app?.close();
    store?.close();
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  });

  const post = async (token: string, text: string): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${base}/v1/edr/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
      body: text,
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  it("rejects and counts another tenant's Defender records", async () => {
    const before = pipeline.counters.edrRejected['mde.tenant_mismatch'] ?? 0;
    for (const token of [TOKENS.globex, TOKENS.solo]) {
      const r = await post(token, body);
      expect(r.status).toBe(400);
      expect(r.json).toEqual({
        error: { code: 'LLMTAP_ERR_BAD_EDR_BATCH', message: 'EDR batch has no valid record: 0 accepted, 5 rejected (mde.tenant_mismatch)' },
      });
    }
    expect((pipeline.counters.edrRejected['mde.tenant_mismatch'] ?? 0) - before).toBe(10);
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(m).toMatch(/llmtap_edr_records_total\{format="mde",outcome="rejected"\} 10\b/);
  });

  it("accepts the records on the credential of the tenant that owns the id", async () => {
    const r = await post(TOKENS.acme, body);
    expect(r.status).toBe(200);
    // The excerpt's own outcomes: four connection rows; NetworkSignatureInspected is no connection.
    expect(r.json['accepted']).toBe(4);
    expect(r.json['rejected_by_reason']).toEqual({ 'mde.no_process_action': 1 });
  });

  it('a batch mixing tenants keeps the matching records and counts the others', async () => {
    const lines = body.trim().split('\n');
    const foreign = lines.map((l) => l.replace(SAMPLE_TENANT, '0f0f0f0f-0000-4000-8000-00000000beef'));
    const r = await post(TOKENS.acme, [...lines.slice(0, 2), ...foreign.slice(2)].join('\n'));
    expect(r.status).toBe(200);
    // Kept: the ConnectionFailed row (the NetworkSignatureInspected row is no connection either way).
    expect(r.json['accepted']).toBe(1);
    expect(r.json['rejected_by_reason']).toEqual({ 'mde.no_process_action': 1, 'mde.tenant_mismatch': 3 });
  });
});
