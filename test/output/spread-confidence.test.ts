/**
 * Pushed alerts say what the API says: an H7 that reached two providers lists both and names
 * no single destination host; every alert carries its confidence level.
 */
import { describe, expect, it } from 'vitest';
import { toCef, toEcs, toEve } from '../../src/output/format.js';
import { alerts, obs, rig } from '../detect/helpers.js';

const CURL = 'c1'.repeat(32);
const ctx = { version: '0.1.0', hostname: 'sensor-1' };

describe('outputs: spread and confidence', () => {
  it('CEF, ECS and EVE of a two-provider H7 and of a one-host H1', () => {
    const { store, det } = rig();
    det.onObservation(obs({ id: 'a1', atS: 100, device: 'dev-1', proc: 'curl.exe', sha256: CURL, provider: 'OpenAI', host: 'api.openai.com' }));
    det.onObservation(obs({ id: 'a2', atS: 130, device: 'dev-2', proc: 'curl.exe', sha256: CURL, provider: 'OpenAI', host: 'api.openai.com' }));
    det.onObservation(obs({ id: 'a3', atS: 160, device: 'dev-3', proc: 'curl.exe', sha256: CURL, provider: 'Anthropic', host: 'api.anthropic.com' }));
    const list = alerts(store);
    const h7 = list.find((a) => a.heuristic === 'h7')!;
    const h1 = list.find((a) => a.heuristic === 'h1' && a.deviceId === 'dev-1')!;

    const cef7 = toCef(h7, ctx);
    expect(cef7).not.toMatch(/ dhost=/);
    expect(cef7).toContain('cs1=OpenAI, Anthropic');
    expect(cef7).toContain('cs6Label=confidence cs6=high');
    expect(toCef(h1, ctx)).toContain(' dhost=api.openai.com ');

    const ecs7 = toEcs(h7, ctx) as { destination: Record<string, unknown>; llmtap: Record<string, unknown> };
    expect(ecs7.destination['domain']).toBeUndefined();
    expect(ecs7.llmtap['providers']).toEqual(['OpenAI', 'Anthropic']);
    expect(ecs7.llmtap['hosts']).toEqual(['api.openai.com', 'api.anthropic.com']);
    expect(ecs7.llmtap['confidence']).toBe('high');
    expect(ecs7.llmtap['confidence_reasons']).toEqual(['sni', 'edr_process', 'programmatic', 'first_seen']);
    const ecs1 = toEcs(h1, ctx) as { destination: Record<string, unknown> };
    expect(ecs1.destination['domain']).toBe('api.openai.com');

    const eve7 = toEve(h7, ctx) as { tls?: unknown; alert: { metadata: Record<string, string[]> } };
    expect(eve7.tls).toBeUndefined();
    expect(eve7.alert.metadata['provider']).toEqual(['OpenAI', 'Anthropic']);
    expect(eve7.alert.metadata['confidence']).toEqual(['high']);
    expect((toEve(h1, ctx) as { tls?: unknown }).tls).toEqual({ sni: 'api.openai.com' });
    store.close();
  });
});
