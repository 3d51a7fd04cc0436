/**
 * Confidence on every alert: level and reasons from source agreement, browser vs programmatic
 * process, repetition, off-hours (per-tenant business hours in the tenant's time zone, Intl)
 * and first-ever (device, process, provider) after warm-up.
 */
import { describe, expect, it } from 'vitest';
import { isBrowser, localTime, mergeConfidence, observationSignals, offHours } from '../../src/detect/confidence.js';
import { WEIGHTS } from '../../src/detect/confidence.js';
import { CONFIDENCE_SIGNALS } from '../../src/api/schemas/common.js';
import type { Alert, Observation } from '../../src/records.js';
import { defaultTenantConfig, parseTenant, TenantConfigError, type BusinessHours } from '../../src/tenants/schema.js';
import { alerts, DAY_S, obs, rig } from './helpers.js';

const us = (iso: string): number => Date.parse(iso) * 1000;
const BERLIN: BusinessHours = { time_zone: 'Europe/Berlin', days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00', end: '18:00' };

const signals = (a: Alert | undefined): string[] => (a?.confidence?.reasons ?? []).map((r) => r.signal);

describe('business hours (Intl time zones)', () => {
  it('local weekday and time across daylight saving changes', () => {
    // 2025-03-30: Europe/Berlin moves from UTC+1 to UTC+2 at 01:00 UTC.
    expect(localTime(us('2025-03-30T00:30:00Z'), 'Europe/Berlin')).toMatchObject({ day: 'sun', minutes: 90 });
    expect(localTime(us('2025-03-30T01:30:00Z'), 'Europe/Berlin')).toMatchObject({ day: 'sun', minutes: 210 });
    expect(localTime(us('2025-11-03T06:59:00Z'), 'Europe/Berlin')).toMatchObject({ day: 'mon', minutes: 7 * 60 + 59 });
    // Half-hour zone; and a UTC Monday morning that is still Sunday in New York.
    expect(localTime(us('2025-11-03T03:00:00Z'), 'Asia/Kolkata')).toMatchObject({ day: 'mon', minutes: 8 * 60 + 30 });
    expect(localTime(us('2025-11-03T03:00:00Z'), 'America/New_York')).toMatchObject({ day: 'sun', minutes: 22 * 60 });
    expect(localTime(us('2025-11-03T03:00:00Z'), 'America/New_York').text).toBe('Sun 22:00 America/New_York');
  });

  it('inside and outside the hours, in the tenant zone', () => {
    // Monday 2025-11-03: 08:00 Berlin is 07:00 UTC (CET).
    expect(offHours(us('2025-11-03T06:59:00Z'), BERLIN)).toBe('Mon 07:59 Europe/Berlin (business hours mon,tue,wed,thu,fri 08:00-18:00)');
    expect(offHours(us('2025-11-03T07:00:00Z'), BERLIN)).toBeUndefined();
    expect(offHours(us('2025-11-03T16:59:00Z'), BERLIN)).toBeUndefined();
    expect(offHours(us('2025-11-03T17:00:00Z'), BERLIN)).toMatch(/^Mon 18:00 /);
    // Summer time: 08:00 Berlin is 06:00 UTC.
    expect(offHours(us('2025-07-07T06:00:00Z'), BERLIN)).toBeUndefined();
    expect(offHours(us('2025-07-07T05:59:00Z'), BERLIN)).toMatch(/^Mon 07:59 /);
    // Saturday noon.
    expect(offHours(us('2025-11-08T11:00:00Z'), BERLIN)).toMatch(/^Sat 12:00 /);
    // No business hours configured: never off-hours.
    expect(offHours(us('2025-11-08T11:00:00Z'), undefined)).toBeUndefined();
  });

  it('a night shift past midnight belongs to the day it started', () => {
    const night: BusinessHours = { time_zone: 'UTC', days: ['fri'], start: '22:00', end: '06:00' };
    expect(offHours(us('2025-11-07T23:00:00Z'), night)).toBeUndefined(); // Fri 23:00
    expect(offHours(us('2025-11-08T05:00:00Z'), night)).toBeUndefined(); // Sat 05:00, Friday's shift
    expect(offHours(us('2025-11-08T23:00:00Z'), night)).toMatch(/^Sat 23:00 /);
    expect(offHours(us('2025-11-07T05:00:00Z'), night)).toMatch(/^Fri 05:00 /); // Thursday has no shift
  });

  it('config: hours and zone are validated, naming the key', () => {
    const t = parseTenant({ id: 'acme', business_hours: { time_zone: 'Europe/Berlin', start: '07:30' } }, 'tenants[0]');
    expect(t.business_hours).toEqual({ time_zone: 'Europe/Berlin', days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '07:30', end: '18:00' });
    expect(parseTenant({ id: 'x' }, 'tenants[0]').business_hours).toBeUndefined();
    const bad = (bh: unknown): string => {
      try {
        parseTenant({ id: 'acme', business_hours: bh }, 'tenants[0]');
        return 'accepted';
      } catch (e) {
        expect(e).toBeInstanceOf(TenantConfigError);
        return (e as TenantConfigError).key;
      }
    };
    expect(bad({ time_zone: 'Mars/Olympus' })).toBe('tenants[0].business_hours.time_zone');
    expect(bad({ time_zone: 'UTC', start: '8:00' })).toBe('tenants[0].business_hours.start');
    expect(bad({ time_zone: 'UTC', end: '24:00' })).toBe('tenants[0].business_hours.end');
    expect(bad({ time_zone: 'UTC', days: ['monday'] })).toBe('tenants[0].business_hours.days[0]');
    expect(bad({ time_zone: 'UTC', hours: 8 })).toBe('tenants[0].business_hours.hours');
    expect(bad({})).toBe('tenants[0].business_hours.time_zone');
  });
});

describe('confidence on alerts', () => {
  it('the signal list served by the API is the detector\'s', () => {
    expect([...CONFIDENCE_SIGNALS].sort()).toEqual(Object.keys(WEIGHTS).sort());
  });

  it('browser vs programmatic, source agreement, repetition: levels and reasons', () => {
    const cfg = { ...defaultTenantConfig(), warmup_days: 0, h1_categories: ['api' as const, 'assistant' as const] };
    const { store, det } = rig([cfg]);
    // A browser reaching an assistant, named by SNI only: low.
    det.onObservation(obs({ id: 'b1', atS: 10, proc: 'chrome.exe', host: 'chatgpt.com', category: 'assistant', device: 'dev-1' }));
    // A script reaching the API, SNI and the client's DNS answer agree: high.
    const agree: Observation = obs({ id: 'p1', atS: 20, proc: 'python.exe', device: 'dev-2' });
    agree.flow!.hostAgrees = true;
    det.onObservation(agree);
    const list = alerts(store);
    const browser = list.find((a) => a.processName === 'chrome.exe');
    const script = list.find((a) => a.processName === 'python.exe');
    expect(browser?.confidence?.reasons).toEqual([
      { signal: 'sni', weight: 1, note: 'TLS server name' },
      { signal: 'edr_process', weight: 1, note: 'endpoint record (sysmon)' },
      { signal: 'browser', weight: -1, note: 'chrome.exe' },
      { signal: 'first_seen', weight: 1, note: 'first chrome.exe to openai from this device' },
    ]);
    expect(browser?.confidence).toMatchObject({ level: 'medium', score: 2 });
    expect(signals(script)).toEqual(['sni_dns_agree', 'edr_process', 'programmatic', 'first_seen']);
    expect(script?.confidence).toMatchObject({ level: 'high', score: 5 });
    store.close();
  });

  it('a device without EDR, named by another client\'s DNS answer: low, then repetition raises it', () => {
    const { store, det } = rig();
    const mk = (i: number): Observation => {
      const o = obs({ id: `s${i}`, atS: 100 + i * 60, noEdr: true, clientAddr: '10.9.0.7', host: 'api.anthropic.com', provider: 'anthropic' });
      o.hostSource = 'dns-any';
      return o;
    };
    for (let i = 0; i < 5; i++) det.onObservation(mk(i));
    let sv = alerts(store).find((a) => a.heuristic === 'shadow_volume');
    expect(sv?.count).toBe(5);
    // (first-seen belongs to the first connection, which raised nothing by itself)
    expect(sv?.confidence?.reasons.map((r) => `${r.signal}${r.weight}`)).toEqual(['dns_any-1', 'repeated1']);
    expect(sv?.confidence?.level).toBe('low');
    // A later connection is named by SNI: the strongest naming is kept, the weaker dropped.
    det.onObservation(obs({ id: 's-sni', atS: 500, noEdr: true, clientAddr: '10.9.0.7', host: 'api.anthropic.com', provider: 'anthropic' }));
    det.tick(0);
    sv = alerts(store).find((a) => a.heuristic === 'shadow_volume');
    expect(signals(sv)).toEqual(['sni', 'repeated']);
    expect(sv?.confidence).toMatchObject({ level: 'medium', score: 2 });
    expect(sv?.confidence?.reasons.find((r) => r.signal === 'repeated')?.note).toBe('6 connections');
    store.close();
  });

  it('off-hours: the tenant\'s business hours in its own zone decide', () => {
    // T0 is Monday 2025-11-03 00:00 UTC = 01:00 Berlin (off-hours); 09:00 UTC = 10:00 Berlin (inside).
    const cfg = { ...defaultTenantConfig(), warmup_days: 0, business_hours: BERLIN };
    const { store, det } = rig([cfg]);
    det.onObservation(obs({ id: 'n1', atS: 3600, device: 'dev-1', proc: 'night.exe' }));
    det.onObservation(obs({ id: 'd1', atS: 9 * 3600, device: 'dev-2', proc: 'day.exe' }));
    const list = alerts(store);
    const night = list.find((a) => a.processName === 'night.exe');
    expect(night?.confidence?.reasons.find((r) => r.signal === 'off_hours')).toEqual({
      signal: 'off_hours', weight: 1, note: 'Mon 02:00 Europe/Berlin (business hours mon,tue,wed,thu,fri 08:00-18:00)',
    });
    expect(signals(list.find((a) => a.processName === 'day.exe'))).not.toContain('off_hours');
    expect(det.stats()['detect.off_hours']).toBe(1);
    store.close();
  });

  it('first-seen: only after warm-up, only the first (device, process, provider), and stable on replay', () => {
    const { store, det } = rig([{ ...defaultTenantConfig(), warmup_days: 1 }]);
    det.onObservation(obs({ id: 'w0', atS: 0, device: 'dev-1', proc: 'tool.exe' })); // warm-up: learning, known from now
    det.onObservation(obs({ id: 'w1', atS: 2 * DAY_S, device: 'dev-1', proc: 'tool.exe' })); // known pair
    det.onObservation(obs({ id: 'w2', atS: 2 * DAY_S + 10, device: 'dev-2', proc: 'tool.exe' })); // new device
    det.onObservation(obs({ id: 'w3', atS: 2 * DAY_S + 20, device: 'dev-1', proc: 'tool.exe', provider: 'anthropic' })); // new provider
    const list = alerts(store);
    const learning = list.find((a) => a.heuristic === 'learning');
    expect(signals(learning)).not.toContain('first_seen');
    const h1 = (dev: string, provider: string): Alert | undefined => list.find((a) => a.heuristic === 'h1' && a.deviceId === dev && a.provider === provider);
    expect(signals(h1('dev-1', 'openai'))).not.toContain('first_seen');
    expect(signals(h1('dev-2', 'openai'))).toContain('first_seen');
    expect(signals(h1('dev-1', 'anthropic'))).toContain('first_seen');
    expect(store.pairFirstSeen('default', 'dev:dev-2', 'tool.exe', 'openai')).toBe(obs({ id: 'x', atS: 2 * DAY_S + 10 }).tsUs);
    // Replaying w2 (same obsId, same time) into the same store: still the first sighting, no new alert.
    const before = list.length;
    det.onObservation({ ...obs({ id: 'w2', atS: 2 * DAY_S + 10, device: 'dev-2', proc: 'tool.exe' }), update: true });
    expect(alerts(store).length).toBe(before);
    store.close();
  });

  it('naming signals: each way a host was named, and only the strongest counts', () => {
    const named = (src: string, agrees?: boolean): string[] => {
      const o = obs({ id: 'n', atS: 0, noEdr: true });
      (o as { hostSource: string }).hostSource = src;
      if (agrees !== undefined) o.flow!.hostAgrees = agrees;
      return observationSignals(o, {}).map((r) => `${r.signal}${r.weight}`);
    };
    expect(named('sni', true)).toEqual(['sni_dns_agree2']);
    expect(named('quic-sni')).toEqual(['sni1']);
    expect(named('sni', false)).toEqual(['sni1', 'sni_dns_conflict-1']);
    expect(named('dns-client')).toEqual(['dns_client1']);
    expect(named('dns-any')).toEqual(['dns_any-1']);
    expect(named('edr')).toEqual(['edr_name-1']);
    expect(named('ip-range')).toEqual(['ip_range-1']);
    expect(named('none')).toEqual(['no_name-1']);
    const ipRange = observationSignals(Object.assign(obs({ id: 'r', atS: 0, noEdr: true }), { hostSource: 'ip-range' as never }), {});
    const sni = observationSignals(obs({ id: 's', atS: 0, noEdr: true }), {});
    const merged = mergeConfidence(mergeConfidence(undefined, ipRange, 1), sni, 2);
    expect(merged).toEqual({ level: 'low', score: 1, reasons: [{ signal: 'sni', weight: 1, note: 'TLS server name' }] });
  });

  it('browser names', () => {
    for (const b of ['chrome.exe', 'msedge.exe', 'firefox', 'Google Chrome Helper (Renderer)', 'chromium']) expect(isBrowser(b), b).toBe(true);
    for (const p of ['python.exe', 'curl', 'node', 'chromedriver', 'w3wp.exe']) expect(isBrowser(p), p).toBe(false);
  });
});
