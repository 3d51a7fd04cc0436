/**
 * Confidence: how much an alert can be trusted, from what its connections showed. The
 * shadow-AI playbook raises confidence when sources agree and for repeated, programmatic or
 * off-hours use; the endpoint write-up adds a binary first seen on a device. Every signal has a
 * fixed weight; the level is the sum (≥ 4 high, 2–3 medium, ≤ 1 low):
 *
 * | signal             | weight | when                                                              |
 * | ------------------ | ------ | ----------------------------------------------------------------- |
 * | `sni_dns_agree`    | +2     | SNI and the client's own DNS answer name the same host            |
 * | `sni`              | +1     | named by the TLS/QUIC server name alone                           |
 * | `dns_client`       | +1     | named by the client's own DNS answer (no SNI)                     |
 * | `dns_any`          | −1     | named by another client's DNS answer (shared CDN address)         |
 * | `edr_name`         | −1     | named only by the endpoint's hint                                 |
 * | `ip_range`         | −1     | no name at all: the address lies in a provider's published range  |
 * | `no_name`          | −1     | no name: classified by port or process only                       |
 * | `sni_dns_conflict` | −1     | SNI and the client's DNS answer disagree                          |
 * | `edr_process`      | +1     | a per-connection endpoint record names the process (EDR agrees)   |
 * | `programmatic`     | +1     | the process is not a browser (script, CLI, service, unknown tool) |
 * | `browser`          | −1     | the process is a browser (interactive use)                        |
 * | `repeated`         | +1     | the alert counts ≥ 5 connections (the playbook's threshold)       |
 * | `off_hours`        | +1     | outside the tenant's business hours, in its time zone             |
 * | `first_seen`       | +1     | first-ever (device, process, provider) after the tenant's warm-up |
 * | `threat_intel`     | +2     | the binary hash or destination is a loaded threat indicator       |
 *
 * Naming signals (the first eight) describe one thing: an alert keeps the strongest it saw.
 * Every other signal any contributing connection showed is kept (a union over the alert's
 * life), `repeated` follows the count. Deterministic: the same input gives the same level.
 */
import type { BusinessHours, Weekday } from '../tenants/schema.js';
import { WEEKDAYS } from '../tenants/schema.js';
import type { Confidence, ConfidenceLevel, ConfidenceReason, ConfidenceSignal, Observation } from '../records.js';

export const WEIGHTS: Record<ConfidenceSignal, number> = {
  sni_dns_agree: 2,
  sni: 1,
  dns_client: 1,
  dns_any: -1,
  edr_name: -1,
  ip_range: -1,
  no_name: -1,
  sni_dns_conflict: -1,
  edr_process: 1,
  programmatic: 1,
  browser: -1,
  repeated: 1,
  off_hours: 1,
  first_seen: 1,
  threat_intel: 2,
};

const NAMING: ReadonlySet<ConfidenceSignal> = new Set(['sni_dns_agree', 'sni', 'dns_client', 'dns_any', 'edr_name', 'ip_range', 'no_name']);
const ORDER = Object.keys(WEIGHTS) as ConfidenceSignal[];
/** The playbook flags a summary with 5 or more connections. */
export const REPEATED_MIN = 5;

export function levelOf(score: number): ConfidenceLevel {
  if (score >= 4) return 'high';
  if (score >= 2) return 'medium';
  return 'low';
}

/** Browsers (and their helper processes): an AI call from one is interactive use. */
const BROWSER = /^(chrome|chromium|chromium-browser|google-chrome(-stable)?|msedge|microsoftedge|firefox|firefox-esr|brave|opera|vivaldi|safari|arc|iexplore|thorium|yandex)(\.exe)?$|^(google chrome|microsoft edge|brave browser|chromium) helper/i;

export function isBrowser(processName: string): boolean {
  return BROWSER.test(processName.trim());
}

function reason(signal: ConfidenceSignal, note: string): ConfidenceReason {
  return { signal, weight: WEIGHTS[signal], note };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Weekday and minutes since midnight of `tsUs` in time zone `tz` (Intl does the zone math). */
export function localTime(tsUs: number, tz: string): { day: Weekday; minutes: number; text: string } {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(tz, f);
  }
  const parts = f.formatToParts(new Date(Math.floor(tsUs / 1000)));
  const get = (t: string): string => parts.find((p) => p.type === t)?.value ?? '';
  const wd = get('weekday');
  const hour = Number(get('hour'));
  const minute = Number(get('minute'));
  const day = (WEEKDAYS.find((d) => d === wd.toLowerCase().slice(0, 3)) ?? 'sun') as Weekday;
  return { day, minutes: hour * 60 + minute, text: `${wd} ${get('hour')}:${get('minute')} ${tz}` };
}

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** The local time text when `tsUs` lies outside the business hours, else undefined. */
export function offHours(tsUs: number, bh: BusinessHours | undefined): string | undefined {
  if (!bh) return undefined;
  const t = localTime(tsUs, bh.time_zone);
  const start = minutesOf(bh.start);
  const end = minutesOf(bh.end);
  let inside: boolean;
  if (end > start) inside = bh.days.includes(t.day) && t.minutes >= start && t.minutes < end;
  else {
    // A shift past midnight belongs to the day it started on.
    const prev = WEEKDAYS[(WEEKDAYS.indexOf(t.day) + 6) % 7] as Weekday;
    inside = (bh.days.includes(t.day) && t.minutes >= start) || (bh.days.includes(prev) && t.minutes < end);
  }
  return inside ? undefined : `${t.text} (business hours ${bh.days.join(',')} ${bh.start}-${bh.end})`;
}

/** What one observation says, before any alert state (repetition is the alert's). */
export function observationSignals(obs: Observation, extra: { offHours?: string; firstSeen?: boolean; threatIntel?: string }): ConfidenceReason[] {
  const out: ConfidenceReason[] = [];
  const src: string = obs.hostSource;
  const sni = src === 'sni' || src === 'quic-sni';
  if (sni && obs.flow?.hostAgrees === true) out.push(reason('sni_dns_agree', `${src === 'quic-sni' ? 'QUIC ' : ''}SNI and the client's DNS answer agree`));
  else if (sni) out.push(reason('sni', src === 'quic-sni' ? 'QUIC server name' : 'TLS server name'));
  else if (src === 'dns-client') out.push(reason('dns_client', "the client's own DNS answer"));
  else if (src === 'dns-any') out.push(reason('dns_any', "another client's DNS answer for a shared address"));
  else if (src === 'edr') out.push(reason('edr_name', "the endpoint's name hint only"));
  else if (src === 'ip-range') out.push(reason('ip_range', "a provider's published address range, no name"));
  else out.push(reason('no_name', 'no name: port or process only'));
  if (sni && obs.flow?.hostAgrees === false) out.push(reason('sni_dns_conflict', "SNI and the client's DNS answer disagree"));
  const c = obs.client;
  if (c?.method === 'edr') out.push(reason('edr_process', `endpoint record (${c.source})`));
  if (c?.processName) {
    if (isBrowser(c.processName)) out.push(reason('browser', c.processName));
    else out.push(reason('programmatic', c.processName));
  }
  if (extra.offHours !== undefined) out.push(reason('off_hours', extra.offHours));
  if (extra.firstSeen === true) out.push(reason('first_seen', `first ${c?.processName ?? 'connection'} to ${obs.verdict?.provider ?? 'this provider'} from this device`));
  if (extra.threatIntel !== undefined) out.push(reason('threat_intel', extra.threatIntel));
  return out;
}

/** Folds one connection's signals into an alert's confidence (see the rules above). */
export function mergeConfidence(prev: Confidence | undefined, signals: ConfidenceReason[], count: number): Confidence {
  const by = new Map<ConfidenceSignal, ConfidenceReason>();
  for (const r of prev?.reasons ?? []) if (r.signal !== 'repeated') by.set(r.signal, r);
  for (const r of signals) if (!by.has(r.signal)) by.set(r.signal, r);
  // Naming: only the strongest.
  const naming = [...by.values()].filter((r) => NAMING.has(r.signal)).sort((a, b) => b.weight - a.weight || ORDER.indexOf(a.signal) - ORDER.indexOf(b.signal));
  for (const r of naming.slice(1)) by.delete(r.signal);
  if (by.has('programmatic') && by.has('browser')) by.delete('browser');
  if (count >= REPEATED_MIN) by.set('repeated', reason('repeated', `${count} connections`));
  const reasons = [...by.values()].sort((a, b) => ORDER.indexOf(a.signal) - ORDER.indexOf(b.signal));
  const score = reasons.reduce((s, r) => s + r.weight, 0);
  return { level: levelOf(score), score, reasons };
}
