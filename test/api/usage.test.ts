/**
 * The usage summary on real data: the demo (pcaps/demo: capture + its EDR feed + config) is
 * replayed into a database; `GET /v1/usage` and `llmtap report usage` must give exactly the
 * numbers computed here, independently, from the observations the pipeline emitted (and the
 * bytes must be the flow records' own wire bytes).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { hashToken } from '../../src/api/auth.js';
import { readEdrFile } from '../../src/attribute/ingest.js';
import { Classifier, DEFAULT_RULES_PATH } from '../../src/classify/classifier.js';
import { applyConfigAllowlist } from '../../src/sensor/allowlist.js';
import { loadConfig } from '../../src/config.js';
import { createMetrics } from '../../src/metrics.js';
import { Pipeline } from '../../src/pipeline.js';
import type { FlowRecord, Observation } from '../../src/records.js';
import { readCaptureFile } from '../../src/source/file.js';
import { Store } from '../../src/store/store.js';
import { ensureBuilt } from '../helpers/build-once.js';
import { repoRoot } from '../helpers/corpus.js';
import { DEMO_DIR } from '../helpers/demo-run.js';

const DEMO_TOKEN = 'usage-test-token-of-the-demo-tenant';
const OTHER_TOKEN = 'usage-test-token-of-another-tenant-';
type Dim = 'device' | 'source' | 'provider' | 'destination';

let tmp: string;
let dbPath: string;
let store: Store;
let app: FastifyInstance;
/** The AI observations the pipeline emitted, last version per obsId. */
const observed = new Map<string, Observation>();
const flows: FlowRecord[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'llmtap-usage-'));
  dbPath = join(tmp, 'demo.db');
  const cfg = loadConfig(join(DEMO_DIR, 'llmtap.yaml'));
  store = Store.open(dbPath, { flushIntervalMs: 0 });
  applyConfigAllowlist(cfg, store);
  const pipeline = new Pipeline(cfg, {
    store,
    onFlow: (f) => flows.push(structuredClone(f)),
    onObservation: (o) => {
      if (o.verdict !== undefined) observed.set(o.obsId, structuredClone(o));
    },
  });
  await readEdrFile(join(DEMO_DIR, 'edr', 'llmtap.ndjson'), { tenant: 'demo', lineageKey: cfg.attribute.lineage_key }, (r) => pipeline.addEdr(r));
  await readCaptureFile(join(DEMO_DIR, 'demo.pcap.gz'), (b) => pipeline.onBatch(b));
  pipeline.finish();
  store.flush();
  const metrics = createMetrics({}, { defaultMetrics: false });
  app = await buildApp(
    { tenants: [{ tenant: 'demo', tokenSha256: hashToken(DEMO_TOKEN) }, { tenant: 'other', tokenSha256: hashToken(OTHER_TOKEN) }] },
    {
      store,
      classifier: Classifier.fromFiles({ rules: DEFAULT_RULES_PATH }),
      ingestEdr: () => ({ accepted: 0, rejected: {}, byFormat: {} }),
      captureRunning: () => false,
      registry: metrics.registry,
      publicRegistry: metrics.publicRegistry,
    },
  );
  await app.ready();
}, 120_000);

afterAll(async () => {
  await app?.close();
  store?.close();
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
});

const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString();

function keyOf(o: Observation, d: Dim): string {
  switch (d) {
    case 'device':
      return o.client?.deviceId ?? o.clientAddr;
    case 'source':
      return o.clientAddr;
    case 'provider':
      return o.verdict?.provider ?? '';
    case 'destination':
      return o.host ?? o.serverAddr;
  }
}

/** The expected table, computed from the emitted observations (not from the store). */
function expected(group: Dim[], sinceMs: number, untilMs: number): Array<Record<string, unknown>> {
  const groups = new Map<string, Observation[]>();
  for (const o of observed.values()) {
    if (o.tsUs < sinceMs * 1000 || o.tsUs >= untilMs * 1000) continue;
    const k = JSON.stringify(group.map((d) => keyOf(o, d)));
    groups.set(k, [...(groups.get(k) ?? []), o]);
  }
  return [...groups.entries()].map(([k, os]) => {
    const keys = JSON.parse(k) as string[];
    return {
      ...Object.fromEntries(group.map((d, i) => [d, keys[i]])),
      connections: os.length,
      first_seen: iso(Math.min(...os.map((o) => o.tsUs))),
      last_seen: iso(Math.max(...os.map((o) => o.lastTsUs))),
      bytes_sent: os.reduce((s, o) => s + Math.round(o.bytesOut), 0),
      bytes_received: os.reduce((s, o) => s + Math.round(o.bytesIn), 0),
      distinct_destinations: new Set(os.map((o) => keyOf(o, 'destination'))).size,
    };
  });
}

const sortRows = (rows: Array<Record<string, unknown>>): string[] => rows.map((r) => JSON.stringify(r, Object.keys(r).sort())).sort();

async function usage(q: string, token = DEMO_TOKEN): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await app.inject({ url: `/v1/usage?${q}`, headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

/** Just after the newest connection: a window ending here holds all of the demo. */
function endMs(): number {
  return Math.floor(Math.max(...[...observed.values()].map((o) => o.tsUs)) / 1000) + 1;
}

describe('usage summary of the demo', () => {
  it('the demo produced the connections the summary is about', () => {
    expect(observed.size).toBeGreaterThanOrEqual(20);
    const providers = new Set([...observed.values()].map((o) => o.verdict?.provider));
    expect([...providers].sort()).toEqual(['Anthropic', 'Google', 'Ollama', 'OpenAI']);
    // Every flow observation's bytes are its flow record's wire bytes (the summary adds these up).
    let checked = 0;
    for (const o of observed.values()) {
      if (o.kind !== 'flow' || o.flow === undefined) continue;
      const f = flows.find((x) => x.flowId === o.flow?.flowId && x.communityId === o.flow.communityId);
      expect(f, o.obsId).toBeDefined();
      expect([Math.round(o.bytesOut), Math.round(o.bytesIn)]).toEqual([f!.origWireBytes, f!.respWireBytes]);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(20);
  });

  it.each([
    [['device', 'provider']],
    [['source', 'provider', 'destination']],
    [['provider']],
    [['destination', 'device']],
    [['device', 'source', 'provider', 'destination']],
  ] as Dim[][][])('GET /v1/usage group=%s equals the independent computation', async (group) => {
    const until = endMs();
    const r = await usage(`window=24h&group=${group.join(',')}&until=${new Date(until).toISOString()}`);
    expect(r.status).toBe(200);
    const want = expected(group, until - 86_400_000, until);
    expect(sortRows(r.body['items'] as Array<Record<string, unknown>>)).toEqual(sortRows(want));
    expect(r.body['group']).toEqual(group);
    expect(r.body['truncated']).toBe(false);
    expect(r.body['window']).toEqual({ from: new Date(until - 86_400_000).toISOString(), until: new Date(until).toISOString(), length: '24h' });
    // Sorted by connections, largest first.
    const counts = (r.body['items'] as Array<{ connections: number }>).map((x) => x.connections);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    // The total row is the whole window.
    expect(r.body['total']).toEqual(expected([], until - 86_400_000, until)[0]);
  });

  it('a window covers only the connections that started inside it', async () => {
    const starts = [...observed.values()].map((o) => o.tsUs).sort((a, b) => a - b);
    // A 1-minute window ending at the median start: about half the demo (it spans under a minute).
    const until = Math.floor(starts[Math.floor(starts.length / 2)]! / 1000);
    const r = await usage(`window=1m&group=device,provider&until=${new Date(until).toISOString()}`);
    const want = expected(['device', 'provider'], until - 60_000, until);
    const n = want.reduce((s, x) => s + (x['connections'] as number), 0);
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(observed.size);
    expect(sortRows(r.body['items'] as Array<Record<string, unknown>>)).toEqual(sortRows(want));
    // A window before the demo is empty and has no total.
    const before = await usage(`window=1h&until=${new Date(Math.floor(starts[0]! / 1000)).toISOString()}`);
    expect(before.body['items']).toEqual([]);
    expect(before.body['total']).toBeUndefined();
  });

  it('limit keeps the largest groups and says it truncated', async () => {
    const until = endMs();
    const all = (await usage(`window=24h&group=source,destination&until=${new Date(until).toISOString()}`)).body['items'] as unknown[];
    const two = await usage(`window=24h&group=source,destination&limit=2&until=${new Date(until).toISOString()}`);
    expect(two.body['items']).toEqual(all.slice(0, 2));
    expect(two.body['truncated']).toBe(true);
  });

  it("is tenant-scoped: another tenant's token sees none of the demo", async () => {
    const r = await usage(`window=90d&group=device,provider&until=${new Date(endMs()).toISOString()}`, OTHER_TOKEN);
    expect(r.status).toBe(200);
    expect(r.body['items']).toEqual([]);
    expect(r.body['total']).toBeUndefined();
  });

  it.each([
    ['window=0h', 'window'],
    ['window=91d', 'window: at most 90d'],
    ['window=24x', 'window'],
    ['group=device,device', 'group: a key appears twice'],
    ['group=user', 'group'],
    ['group=', 'group'],
    ['until=yesterday', 'until'],
    ['limit=0', 'limit'],
    ['tenant=demo', 'additional'],
  ])('rejects %s (400 naming %s)', async (q, field) => {
    const r = await usage(q);
    expect(r.status).toBe(400);
    expect((r.body['error'] as { code: string }).code).toBe('LLMTAP_ERR_BAD_QUERY');
    expect((r.body['error'] as { message: string }).message).toContain(field);
  });
});

describe('llmtap report usage (the same database file)', () => {
  const cli = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
    ensureBuilt();
    store.flush();
    const r = spawnSync(process.execPath, ['bin/llmtap.js', 'report', 'usage', '--db', dbPath, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('JSON: the API numbers, per tenant; --until latest is just after the newest connection', async () => {
    const r = cli(['--format', 'json', '--group', 'device,provider']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout) as { window: { until: string }; tenants: Array<{ tenant: string; items: Array<Record<string, unknown>>; total: unknown }> };
    const until = endMs();
    expect(doc.window.until).toBe(new Date(until).toISOString());
    expect(doc.tenants.map((t) => t.tenant)).toEqual(['demo']);
    expect(sortRows(doc.tenants[0]!.items)).toEqual(sortRows(expected(['device', 'provider'], until - 86_400_000, until)));
    const api = await usage(`window=24h&group=device,provider&until=${new Date(until).toISOString()}`);
    expect(doc.tenants[0]!.items).toEqual(api.body['items']);
    expect(doc.tenants[0]!.total).toEqual(api.body['total']);
  });

  it('CSV: a header and one row per group with the same numbers', () => {
    const r = cli(['--format', 'csv', '--group', 'source,provider,destination']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('tenant,source,provider,destination,connections,first_seen,last_seen,bytes_sent,bytes_received,distinct_destinations');
    const until = endMs();
    const want = expected(['source', 'provider', 'destination'], until - 86_400_000, until);
    expect(lines.length - 1).toBe(want.length);
    const rows = lines.slice(1).map((l) => l.split(','));
    for (const w of want) {
      const row = rows.find((x) => x[1] === w['source'] && x[2] === w['provider'] && x[3] === w['destination']);
      expect(row, JSON.stringify(w)).toEqual(['demo', w['source'], w['provider'], w['destination'], String(w['connections']), w['first_seen'], w['last_seen'], String(w['bytes_sent']), String(w['bytes_received']), String(w['distinct_destinations'])]);
    }
  });

  it('table: a header per tenant with its totals, then the rows', () => {
    const r = cli(['--group', 'provider']);
    expect(r.status).toBe(0);
    const until = endMs();
    const total = expected([], until - 86_400_000, until)[0]!;
    expect(r.stdout).toContain(`tenant demo: ${String(total['connections'])} connection(s), ${String(total['bytes_sent'])} bytes sent, ${String(total['distinct_destinations'])} destination(s)`);
    expect(r.stdout).toMatch(/provider\s+connections\s+first seen\s+last seen\s+bytes sent\s+bytes received\s+distinct destinations/);
    for (const p of ['Anthropic', 'Google', 'OpenAI', 'Ollama']) expect(r.stdout).toMatch(new RegExp(`\\n  ${p}\\s+\\d+\\s+20`));
  });

  it('usage errors are one line and exit 2; a missing database is not created', () => {
    const bad = cli(['--window', '100d']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.split('\n')[0]).toBe('llmtap report: invalid command line: --window 100d: give minutes, hours or days (30m, 24h, 7d), at most 90d');
    const missing = join(tmp, 'nope.db');
    ensureBuilt();
    const r = spawnSync(process.execPath, ['bin/llmtap.js', 'report', 'usage', '--db', missing], { cwd: repoRoot, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`no database at ${missing}`);
    expect(spawnSync('test', ['-e', missing]).status).toBe(1);
  });
});
