/**
 * OCSF output, proven against the published schema: every alert change of the demo, served by
 * `GET /v1/alerts?format=ocsf` (through the route's serializer), validates as an OCSF 1.1.0
 * Detection Finding with the `host` profile; Create/Update/Close follow the alert's history;
 * and the validator itself rejects what the schema rejects.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { hashToken } from '../../src/api/auth.js';
import { Classifier, DEFAULT_RULES_PATH } from '../../src/classify/classifier.js';
import { createMetrics } from '../../src/metrics.js';
import { repoRoot } from '../helpers/corpus.js';
import { replayDemo, type DemoRun } from '../helpers/demo-run.js';
import { OcsfSchema, ocsfSchemaDir } from '../helpers/ocsf-schema.js';

const schemaDir = ocsfSchemaDir();
const TOKEN = 'token-of-the-demo-tenant-0123456789';
const headers = { authorization: `Bearer ${TOKEN}` };
const pkgVersion = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Finding = any; // parsed JSON, checked by the OCSF validator

async function allFindings(app: FastifyInstance): Promise<Finding[]> {
  const out: Finding[] = [];
  let cursor = '';
  for (;;) {
    const r = await app.inject({ url: `/v1/alerts?format=ocsf&limit=5&cursor=${cursor}`, headers });
    expect(r.statusCode).toBe(200);
    const body = r.json() as { items: Finding[]; next_cursor: string; has_more: boolean };
    out.push(...body.items);
    cursor = body.next_cursor;
    if (!body.has_more) return out;
  }
}

describe.skipIf(schemaDir === undefined)('OCSF Detection Findings of the demo', () => {
  let schema: OcsfSchema;
  let demo: DemoRun;
  let app: FastifyInstance;
  let findings: Finding[];

  beforeAll(async () => {
    schema = new OcsfSchema(schemaDir!);
    demo = await replayDemo();
    const metrics = createMetrics({}, { defaultMetrics: false });
    app = await buildApp({ tenants: [{ tenant: 'demo', tokenSha256: hashToken(TOKEN) }] }, {
      store: demo.store,
      classifier: Classifier.fromFiles({ rules: DEFAULT_RULES_PATH }),
      ingestEdr: () => ({ accepted: 0, rejected: {}, byFormat: {} }),
      captureRunning: () => false,
      registry: metrics.registry,
      publicRegistry: metrics.publicRegistry,
    });
    await app.ready();
    findings = await allFindings(app);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    demo?.store.close();
  });

  it('the schema copy is OCSF 1.1.0 and Detection Finding is class 2004', () => {
    expect(schema.version).toBe('1.1.0');
    expect(schema.classNameOf(2004)).toBe('detection_finding');
  });

  it('every change of every demo alert validates against the schema', () => {
    expect(findings).toHaveLength(13); // 9 alerts, 4 of them updated once
    for (const f of findings) expect({ uid: f.metadata.uid, errors: schema.validate(f) }).toEqual({ uid: f.metadata.uid, errors: [] });
  });

  it('Create for each alert’s first change (h7, beacon, upload and shadow_volume included), Update after', () => {
    const seen = new Set<string>();
    const byHeuristic: Record<string, number[]> = {};
    for (const f of findings) {
      const first = !seen.has(f.finding_info.uid);
      seen.add(f.finding_info.uid);
      expect(f.activity_id).toBe(first ? 1 : 2);
      expect(f.type_uid).toBe(first ? 200401 : 200402);
      expect(f.activity_name).toBe(first ? 'Create' : 'Update');
      (byHeuristic[f.finding_info.types[0]] ??= []).push(f.activity_id);
    }
    expect(seen.size).toBe(9);
    expect(byHeuristic).toEqual({ h1: [1, 1, 1, 1, 1, 2, 2], h7: [1], beacon: [1, 2], upload: [1], shadow_volume: [1, 2] });
  });

  it('carries the real product version, profiles, confidence, related events, endpoints and observables', () => {
    for (const f of findings) {
      expect(f.metadata.product).toEqual({ name: 'llmtap', vendor_name: 'llmtap', version: pkgVersion });
      expect(f.metadata.profiles).toEqual(['host']);
      expect(f.metadata.version).toBe('1.1.0');
      expect(f.finding_info).not.toHaveProperty('related_events_uids');
    }
    const h7 = findings.find((f) => f.finding_info.types[0] === 'h7')!;
    const h1Quickprompt = findings.filter((f) => f.finding_info.types[0] === 'h1' && f.unmapped.provider === 'OpenAI').map((f) => f.finding_info.uid);
    expect(h7.finding_info.related_events.map((e: { uid: string }) => e.uid).sort()).toEqual([...h1Quickprompt].sort());
    expect(h7.confidence_id).toBe(3);
    expect(h7.severity_id).toBe(5);
    // fleet alert: no single client or device, the binary as evidence file with its hash
    expect(h7.evidences[0].src_endpoint).toBeUndefined();
    expect(h7.device).toBeUndefined();
    expect(h7.evidences[0].file.hashes[0]).toEqual({ algorithm_id: 3, algorithm: 'SHA-256', value: '007e36a3c44329305dc018653576f9843a6bb03c688eb75cce2a0aafa0e0ec3c' });

    const openssl = findings.find((f) => f.message === 'H1: openssl is not allowlisted for Anthropic (api.anthropic.com)')!;
    const ev = openssl.evidences[0];
    expect(ev.src_endpoint).toEqual({ ip: '10.77.0.103', uid: 'device-c', name: 'device-c' });
    expect(ev.dst_endpoint).toEqual({ hostname: 'api.anthropic.com', ip: '10.77.0.13', port: 443 });
    expect(ev.connection_info).toEqual({
      direction_id: 3, direction: 'Lateral', protocol_num: 6, protocol_name: 'tcp',
      protocol_ver_id: 4, protocol_ver: 'Internet Protocol version 4 (IPv4)',
    });
    expect(ev.process.name).toBe('openssl');
    expect(ev.process.pid).toBeGreaterThan(0);
    expect(openssl.observables.map((o: { type_id: number; value: string }) => `${o.type_id}:${o.value}`)).toEqual([
      '2:10.77.0.103',
      '1:api.anthropic.com',
      '2:10.77.0.13',
      '9:openssl',
      '8:66521161cfad981e189bbc746560e0cc71a141b3765b3fe3658704d877c6ad7d',
    ]);

    const upload = findings.find((f) => f.finding_info.types[0] === 'upload')!;
    expect(upload.evidences[0].src_endpoint.ip).toBe('fd77:0:0:77::103');
    expect(upload.evidences[0].connection_info.protocol_ver_id).toBe(6);
    // confidence is the alert's own: SNI and DNS agree, endpoint record, programmatic process
    expect(upload.confidence_id).toBe(3);
    expect(upload.unmapped.confidence_reasons).toEqual(['sni_dns_agree', 'edr_process', 'programmatic', 'first_seen']);
    const shadow = findings.find((f) => f.finding_info.types[0] === 'shadow_volume')!;
    expect(shadow.confidence).toBe('Medium'); // no EDR: SNI and DNS agree, 6 connections
    expect(shadow.evidences[0].process).toBeUndefined();
    expect(shadow.evidences[0].file).toBeUndefined();
  });

  it('closing an alert emits a Close finding that validates', async () => {
    const id = findings[0]!.finding_info.uid as string;
    const r = await app.inject({ method: 'POST', url: `/v1/alerts/${id}/status`, headers, payload: { status: 'closed' } });
    expect(r.statusCode).toBe(200);
    const all = await allFindings(app);
    const last = all[all.length - 1]!;
    expect(last.finding_info.uid).toBe(id);
    expect(last.activity_id).toBe(3);
    expect(last.type_uid).toBe(200403);
    expect(last.status_id).toBe(4);
    expect(last.status).toBe('Resolved');
    expect(schema.validate(last)).toEqual([]);
  });

  it('the validator rejects what the schema rejects', () => {
    const good = findings[0]!;
    const bad = (mutate: (f: Finding) => void): string[] => {
      const f = structuredClone(good);
      mutate(f);
      return schema.validate(f);
    };
    expect(bad((f) => { f.finding_info.related_events_uids = ['x']; })).toEqual(['finding_info.related_events_uids: not an attribute of finding_info']);
    expect(bad((f) => { delete f.metadata.product; })).toEqual(['metadata.product: required by metadata, missing']);
    expect(bad((f) => { f.severity_id = 7; })).toEqual(['severity_id: 7 is not one of 0, 1, 2, 3, 4, 5, 6, 99']);
    expect(bad((f) => { f.severity = 'Severe'; })).toEqual(["severity_id: sibling severity 'Severe' is not the caption 'Critical'"]);
    expect(bad((f) => { f.time = '2026-01-01'; })).toEqual(['time: must be an integer (timestamp_t)']);
    expect(bad((f) => { f.metadata.profiles = []; })).toEqual(["device: belongs to profile 'host', not named in metadata.profiles"]);
    expect(bad((f) => { f.evidences[0].dst_endpoint.port = 70000; })).toEqual(['evidences[0].dst_endpoint.port: 70000 outside 0..65535']);
    expect(bad((f) => { f.evidences[0].src_endpoint.ip = 'not-an-ip'; })).toEqual(["evidences[0].src_endpoint.ip: 'not-an-ip' does not match ip_t"]);
    expect(bad((f) => { f.evidences[0].process = { name: 'x' }; })).toEqual(['evidences[0].process: process needs at least one of pid, uid']);
    expect(bad((f) => { f.type_uid = 200402; })).toEqual(['type_uid 200402 is not class_uid × 100 + activity_id']);
    expect(bad((f) => { f.class_uid = 2099; })).toEqual(['class_uid 2099 is not a class of OCSF 1.1.0']);
  });
});
