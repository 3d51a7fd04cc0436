/**
 * Tenants: which VLANs, address ranges and EDR tenant ids belong to whom, and each tenant's
 * detection settings. All detection state is per tenant; nothing is correlated across tenants.
 * A `default` tenant always exists and takes whatever no other tenant claims.
 *
 * Shared by config (which validates the `tenants:` section with `parseTenants`) and detect
 * (which resolves and applies the settings), so it lives beside config, not in a stage.
 */
import type { AiCategory } from '../records.js';
import { parseCidr } from './cidr.js';

export interface BeaconConfig {
  /** Connections needed before a key is scored (RITA scores nothing under a minimum too). */
  min_connections: number;
  /** Most recent connections kept per key (bounded ring). */
  max_samples: number;
  /** Score (0..1) at or above which a beacon alert fires. */
  score_threshold: number;
  /** Median interval bounds, seconds: below is a burst, above is not real-time polling. */
  min_interval_s: number;
  max_interval_s: number;
}

/** Days of the week as `business_hours.days` names them (Sunday first, like `Date.getDay`). */
export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/**
 * A tenant's working hours in its own time zone: use outside them is an off-hours signal
 * (confidence). `start`/`end` are local "HH:MM"; an `end` at or before `start` is a shift that
 * runs past midnight (it belongs to the day it started on).
 */
export interface BusinessHours {
  /** IANA time zone, e.g. Europe/Berlin (checked with Intl when the config is loaded). */
  time_zone: string;
  days: Weekday[];
  start: string;
  end: string;
}

export interface TenantConfig {
  /** Tenant id (also the API's scope). */
  id: string;
  /** 802.1Q ids whose traffic belongs to this tenant (any tag of the stack matches). */
  vlans: number[];
  /** Client address ranges, IPv4 or IPv6 CIDR. Longest prefix wins across tenants. */
  cidrs: string[];
  /** EDR tenant ids (as the feed labels them: Defender `tenantId`, CrowdStrike `cid`) that map to this tenant; a record posted with this tenant's token naming another id is rejected. */
  edr_tenant_ids: string[];
  /** Off: nothing AI-threat related is written for this tenant (no alerts, no AI fields). */
  ai_threat_telemetry_enabled: boolean;
  /** Opt-in: keep the one-number payload entropy of a flow. Off by default. */
  payload_entropy: boolean;
  /** H1 learns (candidates, `learning` alerts only) this many days from the first observation. */
  warmup_days: number;
  /** Categories that H1 treats as "LLM API egress". */
  h1_categories: AiCategory[];
  /** Device groups for allowlist entries pinned to a group: group → device ids. */
  device_groups: Record<string, string[]>;
  /** H7: distinct devices with the same unknown hash within `window_s` seconds. */
  h7: { devices: number; window_s: number };
  beacon: BeaconConfig;
  /** Upload: bytes out per (device, provider) over `window_s` above `bytes_out`; or one
   * connection whose out/in ratio exceeds `ratio_factor` × the provider's baseline. */
  upload: { bytes_out: number; window_s: number; ratio_factor: number; ratio_min_bytes: number };
  /** Shadow-AI volume for devices without EDR, per (client address, provider) in `window_s`. */
  shadow_volume: { connections: number; bytes_out: number; window_s: number };
  /** Alerts (and their change rows) are removed this long after they were last seen. */
  alert_ttl_hours: number;
  /** Working hours for the off-hours confidence signal; absent: no off-hours signal. */
  business_hours?: BusinessHours;
  /** Optional, off by default: indicator files (plain hash/host lists or STIX 2.1 bundles),
   * paths relative to the config file; reloaded on SIGHUP. Matching is local. */
  threat_intel: { files: string[] };
}

export function defaultTenantConfig(id = 'default'): TenantConfig {
  return {
    id,
    vlans: [],
    cidrs: [],
    edr_tenant_ids: [],
    ai_threat_telemetry_enabled: true,
    payload_entropy: false,
    warmup_days: 14,
    h1_categories: ['api'],
    device_groups: {},
    h7: { devices: 3, window_s: 300 },
    beacon: { min_connections: 8, max_samples: 32, score_threshold: 0.8, min_interval_s: 1, max_interval_s: 3600 },
    upload: { bytes_out: 10_000_000, window_s: 3600, ratio_factor: 20, ratio_min_bytes: 1_000_000 },
    shadow_volume: { connections: 5, bytes_out: 10_000_000, window_s: 3600 },
    alert_ttl_hours: 72,
    threat_intel: { files: [] },
  };
}

/** A config error naming the offending key, e.g. `tenants[1].h7.devices`. */
export class TenantConfigError extends Error {
  readonly code = 'LLMTAP_ERR_TENANT_CONFIG';
  constructor(readonly key: string, reason: string) {
    super(`${key}: ${reason}`);
    this.name = 'TenantConfigError';
  }
}

const CATEGORIES: readonly AiCategory[] = ['api', 'assistant', 'sdk', 'local_llm', 'plugin', 'agent'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function num(o: Obj, k: string, path: string, dflt: number, min: number, int: boolean): number {
  const v = o[k];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (int && !Number.isInteger(v))) {
    throw new TenantConfigError(`${path}.${k}`, `must be ${int ? 'an integer' : 'a number'} >= ${min}`);
  }
  return v;
}

function bool(o: Obj, k: string, path: string, dflt: boolean): boolean {
  const v = o[k];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new TenantConfigError(`${path}.${k}`, 'must be true or false');
  return v;
}

function strings(o: Obj, k: string, path: string): string[] {
  const v = o[k];
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || s === '')) {
    throw new TenantConfigError(`${path}.${k}`, 'must be a list of non-empty strings');
  }
  return v as string[];
}

function section(o: Obj, k: string, path: string, known: string[]): Obj {
  const v = o[k];
  if (v === undefined) return {};
  if (!isObj(v)) throw new TenantConfigError(`${path}.${k}`, 'must be an object');
  for (const key of Object.keys(v)) {
    if (!known.includes(key)) throw new TenantConfigError(`${path}.${k}.${key}`, 'unknown key');
  }
  return v;
}

const TOP_KEYS = [
  'id', 'vlans', 'cidrs', 'edr_tenant_ids', 'ai_threat_telemetry_enabled', 'payload_entropy',
  'warmup_days', 'h1_categories', 'device_groups', 'h7', 'beacon', 'upload', 'shadow_volume',
  'alert_ttl_hours', 'business_hours', 'threat_intel',
];

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

/** True when Intl knows the IANA time zone name. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function parseBusinessHours(raw: unknown, path: string): BusinessHours | undefined {
  if (raw === undefined) return undefined;
  if (!isObj(raw)) throw new TenantConfigError(path, 'must be an object');
  for (const key of Object.keys(raw)) {
    if (!['time_zone', 'days', 'start', 'end'].includes(key)) throw new TenantConfigError(`${path}.${key}`, 'unknown key');
  }
  const tz = raw['time_zone'];
  if (typeof tz !== 'string' || tz === '' || !isTimeZone(tz)) {
    throw new TenantConfigError(`${path}.time_zone`, `must be an IANA time zone such as Europe/Berlin (got ${JSON.stringify(tz)})`);
  }
  const days = raw['days'] === undefined ? ['mon', 'tue', 'wed', 'thu', 'fri'] : strings(raw, 'days', path).map((d) => d.toLowerCase());
  days.forEach((d, i) => {
    if (!(WEEKDAYS as readonly string[]).includes(d)) throw new TenantConfigError(`${path}.days[${i}]`, `must be one of ${WEEKDAYS.join(', ')}`);
  });
  const hhmm = (k: string, dflt: string): string => {
    const v = raw[k] ?? dflt;
    if (typeof v !== 'string' || !HHMM.test(v)) throw new TenantConfigError(`${path}.${k}`, 'must be a local time "HH:MM" (00:00-23:59)');
    return v;
  };
  return { time_zone: tz, days: days as Weekday[], start: hhmm('start', '08:00'), end: hhmm('end', '18:00') };
}

/** Validates one tenant entry (unknown keys and wrong types are errors naming the key). */
export function parseTenant(raw: unknown, path: string): TenantConfig {
  if (!isObj(raw)) throw new TenantConfigError(path, 'must be an object');
  for (const key of Object.keys(raw)) {
    if (!TOP_KEYS.includes(key)) throw new TenantConfigError(`${path}.${key}`, 'unknown key');
  }
  const id = raw['id'];
  if (typeof id !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(id)) {
    throw new TenantConfigError(`${path}.id`, 'must be 1-64 characters of A-Z a-z 0-9 _ . -');
  }
  const d = defaultTenantConfig(id);
  const vlansRaw = raw['vlans'] ?? [];
  if (!Array.isArray(vlansRaw) || vlansRaw.some((v) => !Number.isInteger(v) || v < 0 || v > 4095)) {
    throw new TenantConfigError(`${path}.vlans`, 'must be a list of VLAN ids 0-4095');
  }
  const cidrs = strings(raw, 'cidrs', path);
  cidrs.forEach((c, i) => {
    if (!parseCidr(c)) throw new TenantConfigError(`${path}.cidrs[${i}]`, `not an address range: ${c}`);
  });
  const cats = raw['h1_categories'] === undefined ? d.h1_categories : strings(raw, 'h1_categories', path);
  cats.forEach((c, i) => {
    if (!(CATEGORIES as readonly string[]).includes(c)) {
      throw new TenantConfigError(`${path}.h1_categories[${i}]`, `unknown category ${c}`);
    }
  });
  const groupsRaw = raw['device_groups'] ?? {};
  if (!isObj(groupsRaw)) throw new TenantConfigError(`${path}.device_groups`, 'must be an object');
  const device_groups: Record<string, string[]> = {};
  for (const g of Object.keys(groupsRaw)) device_groups[g] = strings(groupsRaw, g, `${path}.device_groups`);
  const h7 = section(raw, 'h7', path, ['devices', 'window_s']);
  const b = section(raw, 'beacon', path, Object.keys(d.beacon));
  const up = section(raw, 'upload', path, Object.keys(d.upload));
  const sv = section(raw, 'shadow_volume', path, Object.keys(d.shadow_volume));
  const bp = `${path}.beacon`;
  const beacon = {
    min_connections: num(b, 'min_connections', bp, d.beacon.min_connections, 4, true),
    max_samples: num(b, 'max_samples', bp, d.beacon.max_samples, 4, true),
    score_threshold: num(b, 'score_threshold', bp, d.beacon.score_threshold, 0, false),
    min_interval_s: num(b, 'min_interval_s', bp, d.beacon.min_interval_s, 0, false),
    max_interval_s: num(b, 'max_interval_s', bp, d.beacon.max_interval_s, 1, false),
  };
  if (beacon.score_threshold > 1) throw new TenantConfigError(`${bp}.score_threshold`, 'must be <= 1');
  if (beacon.max_samples < beacon.min_connections) {
    throw new TenantConfigError(`${bp}.max_samples`, 'must be >= beacon.min_connections');
  }
  return {
    id,
    vlans: vlansRaw as number[],
    cidrs,
    edr_tenant_ids: strings(raw, 'edr_tenant_ids', path),
    ai_threat_telemetry_enabled: bool(raw, 'ai_threat_telemetry_enabled', path, d.ai_threat_telemetry_enabled),
    payload_entropy: bool(raw, 'payload_entropy', path, d.payload_entropy),
    warmup_days: num(raw, 'warmup_days', path, d.warmup_days, 0, false),
    h1_categories: cats as AiCategory[],
    device_groups,
    h7: {
      devices: num(h7, 'devices', `${path}.h7`, d.h7.devices, 2, true),
      window_s: num(h7, 'window_s', `${path}.h7`, d.h7.window_s, 1, false),
    },
    beacon,
    upload: {
      bytes_out: num(up, 'bytes_out', `${path}.upload`, d.upload.bytes_out, 1, true),
      window_s: num(up, 'window_s', `${path}.upload`, d.upload.window_s, 1, false),
      ratio_factor: num(up, 'ratio_factor', `${path}.upload`, d.upload.ratio_factor, 1, false),
      ratio_min_bytes: num(up, 'ratio_min_bytes', `${path}.upload`, d.upload.ratio_min_bytes, 0, true),
    },
    shadow_volume: {
      connections: num(sv, 'connections', `${path}.shadow_volume`, d.shadow_volume.connections, 1, true),
      bytes_out: num(sv, 'bytes_out', `${path}.shadow_volume`, d.shadow_volume.bytes_out, 1, true),
      window_s: num(sv, 'window_s', `${path}.shadow_volume`, d.shadow_volume.window_s, 1, false),
    },
    alert_ttl_hours: num(raw, 'alert_ttl_hours', path, d.alert_ttl_hours, 1, false),
    threat_intel: { files: strings(section(raw, 'threat_intel', path, ['files']), 'files', `${path}.threat_intel`) },
    ...withBusinessHours(parseBusinessHours(raw['business_hours'], `${path}.business_hours`)),
  };
}

function withBusinessHours(b: BusinessHours | undefined): { business_hours?: BusinessHours } {
  return b === undefined ? {} : { business_hours: b };
}

/** Validates a `tenants:` list; ids must be unique and a VLAN or EDR id may belong to one tenant. */
export function parseTenants(raw: unknown, path = 'tenants'): TenantConfig[] {
  if (raw === undefined) return [defaultTenantConfig()];
  if (!Array.isArray(raw)) throw new TenantConfigError(path, 'must be a list');
  const out = raw.map((t, i) => parseTenant(t, `${path}[${i}]`));
  const seen = new Map<string, string>();
  out.forEach((t, i) => {
    const claims = [`id ${t.id}`, ...t.vlans.map((v) => `vlan ${v}`), ...t.edr_tenant_ids.map((e) => `edr ${e}`)];
    for (const c of claims) {
      const prev = seen.get(c);
      if (prev !== undefined) throw new TenantConfigError(`${path}[${i}]`, `${c} already belongs to ${prev}`);
      seen.set(c, t.id);
    }
  });
  return out;
}
