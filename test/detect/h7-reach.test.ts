/**
 * H7 names its spread, not its last connection: the alert's title, provider, host and
 * category say every destination the spread reached, and the evidence says which device
 * called which provider and host.
 */
import { describe, expect, it } from 'vitest';
import { alerts, obs, rig } from './helpers.js';

const CURL = 'c0'.repeat(32);

describe('H7 reach', () => {
  it('two devices calling OpenAI and one Anthropic: one alert naming both providers, per device in the evidence', () => {
    const { store, det } = rig();
    det.onObservation(obs({ id: 'a1', atS: 100, device: 'dev-1', proc: 'curl.exe', sha256: CURL, provider: 'OpenAI', host: 'api.openai.com' }));
    det.onObservation(obs({ id: 'a2', atS: 130, device: 'dev-2', proc: 'curl.exe', sha256: CURL, provider: 'OpenAI', host: 'api.openai.com' }));
    det.onObservation(obs({ id: 'a3', atS: 160, device: 'dev-3', proc: 'curl.exe', sha256: CURL, provider: 'Anthropic', host: 'api.anthropic.com' }));
    let h7 = alerts(store).filter((a) => a.heuristic === 'h7');
    expect(h7.length).toBe(1);
    expect(h7[0]?.title).toBe('H7: unknown binary curl.exe spread to 3 devices within 300s: OpenAI from 2 devices, Anthropic from 1 device');
    expect(h7[0]?.provider).toBe('OpenAI, Anthropic');
    expect(h7[0]?.providers).toEqual(['OpenAI', 'Anthropic']);
    expect(h7[0]?.host).toBe('api.openai.com, api.anthropic.com');
    expect(h7[0]?.hosts).toEqual(['api.openai.com', 'api.anthropic.com']);
    expect(h7[0]?.category).toBe('api');
    expect(h7[0]?.categories).toEqual(['api']);
    expect(h7[0]?.evidence.spread).toEqual([
      { deviceId: 'dev-1', deviceName: 'DEV-1', providers: ['OpenAI'], hosts: ['api.openai.com'], firstSeenUs: expect.any(Number) },
      { deviceId: 'dev-2', deviceName: 'DEV-2', providers: ['OpenAI'], hosts: ['api.openai.com'], firstSeenUs: expect.any(Number) },
      { deviceId: 'dev-3', deviceName: 'DEV-3', providers: ['Anthropic'], hosts: ['api.anthropic.com'], firstSeenUs: expect.any(Number) },
    ]);
    expect(h7[0]?.evidence.detail['devices']).toEqual(['dev-1', 'dev-2', 'dev-3']);
    expect(h7[0]?.count).toBe(3);

    // The spread goes on: a fourth device calls an assistant, dev-3 also calls OpenAI. Still one
    // alert (one spread per hash), now naming all of it; the category is the highest-precedence one.
    det.onObservation(obs({ id: 'a4', atS: 190, device: 'dev-3', proc: 'curl.exe', sha256: CURL, provider: 'OpenAI', host: 'api.openai.com' }));
    det.onObservation(obs({ id: 'a5', atS: 220, device: 'dev-4', proc: 'curl.exe', sha256: CURL, provider: 'Google', host: 'gemini.google.com', category: 'assistant' }));
    det.tick(0);
    h7 = alerts(store).filter((a) => a.heuristic === 'h7');
    expect(h7.length).toBe(1);
    expect(h7[0]?.title).toBe('H7: unknown binary curl.exe spread to 4 devices within 300s: OpenAI from 3 devices, Anthropic from 1 device, Google from 1 device');
    expect(h7[0]?.provider).toBe('OpenAI, Anthropic, Google');
    expect(h7[0]?.categories).toEqual(['api', 'assistant']);
    expect(h7[0]?.category).toBe('api');
    expect(h7[0]?.evidence.spread?.map((d) => `${d.deviceId}:${d.providers.join('+')}`)).toEqual([
      'dev-1:OpenAI', 'dev-2:OpenAI', 'dev-3:Anthropic+OpenAI', 'dev-4:Google',
    ]);
    expect(h7[0]?.count).toBe(5);
    store.close();
  });

  it('a spread of one provider reads as before, with the lists of one', () => {
    const { store, det } = rig();
    [0, 40, 80].forEach((dt, i) => det.onObservation(obs({ id: `o${i}`, atS: 500 + dt, device: `dev-${i + 1}`, proc: 'tool', sha256: CURL, provider: 'OpenAI' })));
    const h7 = alerts(store).filter((a) => a.heuristic === 'h7');
    expect(h7.map((a) => [a.title, a.provider, a.host])).toEqual([
      ['H7: unknown binary tool spread to 3 devices within 300s: OpenAI from 3 devices', 'OpenAI', 'api.openai.com'],
    ]);
    store.close();
  });
});
