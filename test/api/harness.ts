/** Builds an app over fakes (or given deps) with two tenants, for inject-based tests. */
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.js';
import type { ApiOptions } from '../../src/api/app.js';
import { hashToken } from '../../src/api/auth.js';
import type { ApiDeps, EdrIngestResult } from '../../src/api/deps.js';
import { createMetrics } from '../../src/metrics.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/store/store.js';
import { Classifier, DEFAULT_RULES_PATH } from '../../src/classify/classifier.js';

export const TOKENS = { t1: 'token-of-tenant-one-0123456789', t2: 'token-of-tenant-two-9876543210', op: 'token-of-the-operator-555555555' } as const;
export const auth = (t: keyof typeof TOKENS): Record<string, string> => ({ authorization: `Bearer ${TOKENS[t]}` });

export interface Harness {
  app: FastifyInstance;
  store: Store;
  close(): Promise<void>;
  classifier: Classifier;
  ingested: Array<{ tenant: string; body: Buffer }>;
  deps: ApiDeps;
}

/** A line-oriented fake ingest: each line (or array element) that parses as an object with `v: 1` is accepted. */
export function fakeIngest(ingested: Harness['ingested']) {
  return (tenant: string, body: Buffer): EdrIngestResult => {
    ingested.push({ tenant, body });
    const text = body.toString('utf8').trim();
    let records: unknown[];
    if (text.startsWith('[')) {
      try {
        records = JSON.parse(text) as unknown[];
      } catch {
        return { accepted: 0, rejected: { 'ingest.bad_json': 1 }, byFormat: {} };
      }
    } else {
      records = text.split('\n').map((l) => {
        try {
          return JSON.parse(l) as unknown;
        } catch {
          return undefined;
        }
      });
    }
    let accepted = 0;
    for (const r of records) if (typeof r === 'object' && r !== null && (r as { v?: unknown }).v === 1) accepted++;
    const bad = records.length - accepted;
    return { accepted, rejected: bad > 0 ? { 'ingest.bad_json': bad } : {}, byFormat: accepted > 0 ? { llmtap: accepted } : {} };
  };
}

export async function makeHarness(overrides: Partial<ApiOptions> = {}, depOverrides: Partial<ApiDeps> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'llmtap-api-'));
  const store = Store.open(join(dir, 'llmtap.db'), { flushIntervalMs: 0 });
  const classifier = Classifier.fromFiles({ rules: DEFAULT_RULES_PATH });
  const ingested: Harness['ingested'] = [];
  const metrics = createMetrics({}, { defaultMetrics: false });
  const deps: ApiDeps = {
    store,
    classifier,
    ingestEdr: fakeIngest(ingested),
    captureRunning: () => true,
    registry: metrics.registry,
    publicRegistry: metrics.publicRegistry,
    apiRequests: metrics.apiRequests,
    ...depOverrides,
  };
  const app = await buildApp(
    {
      tenants: [
        { tenant: 't1', tokenSha256: hashToken(TOKENS.t1) },
        { tenant: 't2', tokenSha256: hashToken(TOKENS.t2) },
      ],
      operators: [{ name: 'ops', tokenSha256: hashToken(TOKENS.op) }],
      version: '0.1.0-test',
      ...overrides,
    },
    deps,
  );
  await app.ready();
  const close = async (): Promise<void> => {
    await app.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { app, store, classifier, ingested, deps, close };
}
