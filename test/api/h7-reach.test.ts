/** The API serves an H7 alert's reach (every provider and host, per device in the evidence) and its confidence. */
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertPageNativeSchema, alertPageOcsfSchema } from '../../src/api/schemas/alerts.js';
import { Detector } from '../../src/detect/detector.js';
import { TenantResolver } from '../../src/tenants/resolver.js';
import { defaultTenantConfig } from '../../src/tenants/schema.js';
import { obs } from '../detect/helpers.js';
import { auth, makeHarness, type Harness } from './harness.js';
import { unlistedPaths } from './schema-check.js';

const ajv = new Ajv.default({ strict: false, allErrors: true });
addFormats.default(ajv);

let h: Harness;
beforeEach(async () => {
  h = await makeHarness();
  const det = new Detector({ tenants: new TenantResolver([{ ...defaultTenantConfig('t1'), warmup_days: 0 }]) }, { store: h.store });
  const sha256 = 'ab'.repeat(32);
  det.onObservation(obs({ id: 'r1', tenant: 't1', atS: 10, device: 'dev-1', proc: 'curl.exe', sha256, provider: 'OpenAI', host: 'api.openai.com' }));
  det.onObservation(obs({ id: 'r2', tenant: 't1', atS: 20, device: 'dev-2', proc: 'curl.exe', sha256, provider: 'OpenAI', host: 'api.openai.com' }));
  det.onObservation(obs({ id: 'r3', tenant: 't1', atS: 30, device: 'dev-3', proc: 'curl.exe', sha256, provider: 'Anthropic', host: 'api.anthropic.com' }));
  det.tick(0);
});
afterEach(async () => {
  await h.close();
});

describe('H7 reach over the API', () => {
  it('native: provider and host name the whole spread, evidence.spread says which device called what', async () => {
    const res = await h.app.inject({ url: '/v1/alerts?heuristic=h7', headers: auth('t1') });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(ajv.validate(alertPageNativeSchema, body), JSON.stringify(ajv.errors)).toBe(true);
    expect(unlistedPaths(alertPageNativeSchema, body)).toEqual([]);
    const a = body.items[body.items.length - 1];
    expect(a.provider).toBe('OpenAI, Anthropic');
    expect(a.providers).toEqual(['OpenAI', 'Anthropic']);
    expect(a.hosts).toEqual(['api.openai.com', 'api.anthropic.com']);
    expect(a.categories).toEqual(['api']);
    expect(a.evidence.spread.map((d: { device_id: string; providers: string[]; hosts: string[] }) => [d.device_id, d.providers, d.hosts])).toEqual([
      ['dev-1', ['OpenAI'], ['api.openai.com']],
      ['dev-2', ['OpenAI'], ['api.openai.com']],
      ['dev-3', ['Anthropic'], ['api.anthropic.com']],
    ]);
    expect(a.evidence.spread[0].first_seen).toBe('2025-11-03T00:00:10.000Z');
    expect(a.confidence).toEqual({
      level: 'high',
      score: 4,
      reasons: [
        { signal: 'sni', weight: 1, note: 'TLS server name' },
        { signal: 'edr_process', weight: 1, note: 'endpoint record (sysmon)' },
        { signal: 'programmatic', weight: 1, note: 'curl.exe' },
        { signal: 'first_seen', weight: 1, note: 'first curl.exe to Anthropic from this device' },
      ],
    });
  });

  it('OCSF: the lists travel in unmapped', async () => {
    const res = await h.app.inject({ url: '/v1/alerts?heuristic=h7&format=ocsf', headers: auth('t1') });
    const body = res.json();
    expect(ajv.validate(alertPageOcsfSchema, body), JSON.stringify(ajv.errors)).toBe(true);
    expect(unlistedPaths(alertPageOcsfSchema, body)).toEqual([]);
    const f = body.items[body.items.length - 1];
    expect(f.unmapped.provider).toBe('OpenAI, Anthropic');
    expect(f.unmapped.providers).toEqual(['OpenAI', 'Anthropic']);
    expect(f.unmapped.hosts).toEqual(['api.openai.com', 'api.anthropic.com']);
    expect(f.confidence_id).toBe(3);
    expect(f.unmapped.confidence_reasons).toEqual(['sni', 'edr_process', 'programmatic', 'first_seen']);
  });
});
