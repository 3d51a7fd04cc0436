/**
 * docs/api.md says what the API serves: the documented alert is checked against the response
 * schema and against the real response for the same alert of the demo (the same fields, at
 * every level, and one naming: snake_case, the heuristics' `detail` keys included); every
 * field path the prose names exists; and the route table lists exactly the registered routes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { hashToken } from '../../src/api/auth.js';
import { alertSchema } from '../../src/api/schemas/alerts.js';
import { Classifier, DEFAULT_RULES_PATH } from '../../src/classify/classifier.js';
import { createMetrics } from '../../src/metrics.js';
import { repoRoot } from '../helpers/corpus.js';
import { replayDemo, type DemoRun } from '../helpers/demo-run.js';

const doc = readFileSync(join(repoRoot, 'docs', 'api.md'), 'utf8');
const section = doc.slice(doc.indexOf('## Reading an alert'), doc.indexOf('\n## ', doc.indexOf('## Reading an alert') + 5));
const example = JSON.parse(/```json\n([\s\S]*?)```/.exec(section)![1]!) as Record<string, unknown>;
const TOKEN = 'token-of-the-demo-tenant-0123456789';

type Schema = { type?: string; properties?: Record<string, Schema>; items?: Schema; additionalProperties?: unknown };

/** Every key path of a JSON value (`a.b`, arrays as `a[]`). */
function paths(v: unknown, prefix = ''): string[] {
  if (Array.isArray(v)) return v.length > 0 ? paths(v[0], `${prefix}[]`) : [];
  if (v === null || typeof v !== 'object') return [];
  return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => {
    const p = prefix === '' ? k : `${prefix}.${k}`;
    return [p, ...paths(x, p)];
  });
}

/** Whether a documented path exists in the schema (free-form objects such as `detail` accept any key). */
function inSchema(s: Schema, path: string): boolean {
  let cur: Schema | undefined = s;
  for (const part of path.split('.')) {
    const key = part.replace(/\[\]$/, '');
    if (cur === undefined) return false;
    if (cur.properties === undefined) return cur.additionalProperties !== undefined;
    cur = cur.properties[key];
    if (cur === undefined) return false;
    if (part.endsWith('[]')) cur = cur.items;
  }
  return cur !== undefined;
}

describe('docs/api.md matches what the API serves', () => {
  let demo: DemoRun;
  let app: FastifyInstance;

  beforeAll(async () => {
    demo = await replayDemo();
    const metrics = createMetrics({}, { defaultMetrics: false });
    app = await buildApp({ tenants: [{ tenant: 'demo', tokenSha256: hashToken(TOKEN) }] }, {
      store: demo.store,
      classifier: Classifier.fromFiles({ rules: DEFAULT_RULES_PATH }),
      ingestEdr: () => ({ accepted: 0, rejected: {}, byFormat: {} }),
      captureRunning: () => true,
      registry: metrics.registry,
      publicRegistry: metrics.publicRegistry,
    });
    await app.ready();
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    demo?.store.close();
  });

  it('the documented alert has only schema fields, all snake_case', () => {
    for (const p of paths(example)) {
      expect({ p, inSchema: inSchema(alertSchema as unknown as Schema, p) }).toEqual({ p, inSchema: true });
      expect(p.split('.').pop()!.replace(/\[\]$/, '')).toMatch(/^[a-z0-9_]+$/);
    }
  });

  it('the documented alert has the same fields as the served one, at every level', async () => {
    const r = await app.inject({ url: `/v1/alerts/${String(example['id'])}`, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(r.statusCode).toBe(200);
    const served = r.json() as Record<string, unknown>;
    expect([...new Set(paths(example))].sort()).toEqual([...new Set(paths(served))].sort());
    for (const k of ['id', 'heuristic', 'severity', 'title', 'device_id', 'process_name', 'sha256', 'provider', 'host']) expect(example[k]).toEqual(served[k]);
  });

  it('every served alert of the demo is snake_case throughout, detail keys included', async () => {
    const r = await app.inject({ url: '/v1/alerts?limit=1000', headers: { authorization: `Bearer ${TOKEN}` } });
    const items = (r.json() as { items: unknown[] }).items;
    expect(items.length).toBeGreaterThanOrEqual(13);
    const bad = items.flatMap((a) => paths(a)).filter((p) => !/^[a-z0-9_.[\]]+$/.test(p));
    expect(bad).toEqual([]);
  });

  it('every field path the prose names exists', () => {
    const named = [...section.matchAll(/`((?:evidence|confidence)\.[a-z_.]+)`/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(4);
    for (const p of named) expect({ p, ok: inSchema(alertSchema as unknown as Schema, p) }).toEqual({ p, ok: true });
    // no camelCase field name left in the alert section
    expect([...section.matchAll(/`([a-z]+[A-Z][A-Za-z]*)`/g)].map((m) => m[1])).toEqual([]);
  });

  it('the route table lists exactly the registered routes', () => {
    const documented = new Set<string>();
    for (const m of doc.matchAll(/`(GET|POST|DELETE|PUT|PATCH) (\/[^`?]*)/g)) documented.add(`${m[1]} ${m[2]}`);
    // the registered routes, from the OpenAPI document the app builds from them
    const spec = (app as unknown as { swagger(): { paths: Record<string, Record<string, unknown>> } }).swagger();
    const registered = new Set<string>();
    for (const [path, methods] of Object.entries(spec.paths)) {
      for (const meth of Object.keys(methods)) if (meth !== 'head') registered.add(`${meth.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
    }
    // every registered route (the OpenAPI document leaves out /metrics and itself) is documented …
    expect([...registered].filter((r) => !documented.has(r))).toEqual([]);
    // … and every documented route is registered
    for (const r of documented) {
      const [method, url] = r.split(' ') as [string, string];
      expect({ r, registered: app.hasRoute({ method: method as 'GET', url }) }).toEqual({ r, registered: true });
    }
    expect(documented.size).toBeGreaterThanOrEqual(registered.size);
  });
});
