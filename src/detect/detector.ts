/**
 * detect: heuristics over classified, attributed observations, per tenant, written through the
 * store. Order per observation: tenant settings (and its privacy switch) → warm-up clock → inventory
 * learning → first-seen (device, process, provider), off-hours and threat-intel match (the
 * confidence signals every alert of this connection gets; a threat-intel match also raises
 * them one severity step) → each rule (fail-open, one try/catch per rule) → the observation row.
 *
 * Privacy switch: a tenant with `ai_threat_telemetry_enabled: false` is dropped before
 * anything is written — no alerts, observations, candidates, inventory or lineage rows.
 * Fail-open: an exception in one rule is caught per observation, counted (`detect.error`,
 * `detect.error.<rule>`) and logged at most once per `ERROR_LOG_INTERVAL_MS` per rule; the
 * other rules and later observations carry on. Store failures are counted as
 * `detect.store_error` the same way.
 */
import { FamilyCounts } from '../counters.js';
import type { DetectCounter, RuleCounter } from './counters.js';
import type { Logger } from 'pino';
import { addrScope } from '../attribute/normalize.js';
import type { Observation, Severity } from '../records.js';
import type { TenantResolver } from '../tenants/resolver.js';
import { Beacon } from './beacon.js';
import { observationSignals, offHours } from './confidence.js';
import { Deduper } from './dedup.js';
import { H1Allowlist } from './h1-allowlist.js';
import { H7Spread } from './h7-spread.js';
import { Parent } from './parent.js';
import type { Hit, Rule, RuleContext } from './rule.js';
import { binHash, defaultDetectBounds, deviceKey, type DetectBounds } from './rule.js';
import { LruMap, type BoundStat } from '../bounded/lru.js';
import { ShadowVolume } from './shadow-volume.js';
import { describeIndicator, ThreatIntelRule, type ThreatIntelIndex } from './threat-intel.js';
import type { DetectStore } from './sink.js';
import { Upload } from './upload.js';

const ERROR_LOG_INTERVAL_MS = 10_000;
const RAISED: Record<Severity, Severity> = { info: 'low', low: 'medium', medium: 'high', high: 'critical', critical: 'critical' };

function raiseSeverity(s: Severity): Severity {
  return RAISED[s];
}
const US_PER_DAY = 86_400_000_000;
/** Retention runs at most this often, in capture time. */
const RETENTION_EVERY_US = 3_600_000_000;
/** Window pruning walks every key: at most this often, in capture time. */
const PRUNE_EVERY_US = 10_000_000;

export function defaultRules(b: DetectBounds = defaultDetectBounds): Rule[] {
  // H1 before H7 so the H1 alert of the device that completes a spread exists to be linked.
  return [new ThreatIntelRule(), new H1Allowlist(), new H7Spread(b.maxWindowKeys), new Beacon(b.maxSeries), new Upload(b.maxWindowKeys, b.maxUploadSeen), new Parent(b.maxLineageNames), new ShadowVolume(b.maxWindowKeys)];
}

export interface DetectorDeps {
  /** Where alerts, observations and learned state go; the wiring passes the `Store`. */
  store: DetectStore;
  log?: Logger;
  /** Rules appended to the defaults (tests inject a failing one; sites may add their own). */
  extraRules?: Rule[];
}

export class Detector {
  private tenants: TenantResolver;
  private readonly store: DetectStore;
  private readonly log: Logger | undefined;
  private readonly rules: Rule[];
  private readonly dedup: Deduper;
  private readonly counters = new Map<DetectCounter, number>();
  /** The declared families, each kept by label values (`stats` lists them in this order). */
  private readonly families = {
    errorsByRule: new FamilyCounts('detect.error.<rule>'),
    storeErrorsByWhere: new FamilyCounts('detect.store_error.<where>'),
    alertsCreated: new FamilyCounts('alerts.<heuristic>.<severity>'),
    alertUpdates: new FamilyCounts('alert_updates.<heuristic>'),
    perDayObservations: new FamilyCounts('h1_per_day.<tenant>.<day>.observations'),
    perDayH1: new FamilyCounts('h1_per_day.<tenant>.<day>.h1'),
  };
  private readonly firstObs = new Map<string, number>();
  /** tenant\0hash → first sighting; a cache of the store's inventory (least recently used evicted). */
  private readonly inventory: LruMap<string, number>;
  /** tenant\0device\0process\0provider → first sighting; a cache of the store's (least recently used evicted). */
  private readonly pairs: LruMap<string, number>;
  private intel = new Map<string, ThreatIntelIndex>();
  private readonly lastErrorLog = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();
  private lastRetentionUs = 0;
  private lastPruneUs = 0;

  constructor(opts: { tenants: TenantResolver; rules?: Rule[]; bounds?: Partial<DetectBounds> }, deps: DetectorDeps) {
    this.tenants = opts.tenants;
    this.store = deps.store;
    this.log = deps.log;
    const b = { ...defaultDetectBounds, ...opts.bounds };
    this.inventory = new LruMap('detect.inventory', b.maxInventory);
    this.pairs = new LruMap('detect.first_pairs', b.maxInventory);
    this.rules = [...(opts.rules ?? defaultRules(b)), ...(deps.extraRules ?? [])];
    this.dedup = new Deduper(deps.store);
  }

  private count(name: DetectCounter, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  private failed(where: string, err: unknown, obsId: string): void {
    if (where === 'store') {
      this.count('detect.store_error');
      this.families.storeErrorsByWhere.inc([where]);
    } else {
      this.count('detect.error');
      this.families.errorsByRule.inc([where]);
    }
    if (!this.log) return;
    const now = Date.now();
    const last = this.lastErrorLog.get(where) ?? 0;
    if (now - last < ERROR_LOG_INTERVAL_MS) {
      this.suppressed.set(where, (this.suppressed.get(where) ?? 0) + 1);
      return;
    }
    this.lastErrorLog.set(where, now);
    const suppressed = this.suppressed.get(where) ?? 0;
    this.suppressed.set(where, 0);
    const msg = err instanceof Error ? err.message : String(err);
    this.log.warn({ rule: where, obsId, err: msg, suppressed }, 'detect: rule failed (fail-open)');
  }

  /** Idempotent per obsId: a late-join update re-runs detection without double counting. */
  onObservation(input: Observation): void {
    // The observation carries its tenant, resolved once where it was formed (src/pipeline.ts,
    // the join); its settings are the current ones. A tenant a reload removed while the
    // connection waited in the join is unknown now: its rows go to `default`.
    const tenant = this.tenants.get(input.tenant);
    const obs = input.tenant === tenant.id ? input : { ...input, tenant: tenant.id };
    if (!tenant.ai_threat_telemetry_enabled) {
      this.count('detect.telemetry_disabled');
      return;
    }
    this.count('detect.observations');
    let warm = false;
    try {
      warm = obs.tsUs >= this.warmupStart(tenant.id, obs.tsUs) + tenant.warmup_days * US_PER_DAY;
      this.learnInventory(tenant.id, obs);
    } catch (err) {
      this.failed('store', err, obs.obsId);
    }
    if (!obs.verdict) return;
    this.count('detect.observations_ai');
    let firstSeen = false;
    try {
      firstSeen = this.learnPair(tenant.id, obs) && warm;
    } catch (err) {
      this.failed('store', err, obs.obsId);
    }
    const off = offHours(obs.tsUs, tenant.business_hours);
    if (off !== undefined) this.count('detect.off_hours');
    if (firstSeen) this.count('detect.first_seen');
    const intel = this.intel.get(tenant.id)?.match(obs);
    if (intel) this.count('detect.threat_intel.matches');
    const intelText = intel ? `${intel.what} matches ${describeIndicator(intel.indicator)}` : undefined;
    const signals = observationSignals(obs, {
      ...(off !== undefined ? { offHours: off } : {}),
      firstSeen,
      ...(intelText !== undefined ? { threatIntel: intelText } : {}),
    });
    const marks = { h1: false };
    const ctx: RuleContext = {
      tenant,
      obs,
      warm,
      store: this.store,
      marks,
      ...(intel !== undefined ? { intel } : {}),
      emit: (raw: Hit) => {
        // A connection matching a threat indicator raises every other alert it produces one
        // severity step and names the indicator in it.
        const hit: Hit =
          intelText !== undefined && raw.heuristic !== 'threat_intel'
            ? { ...raw, severity: raiseSeverity(raw.severity), detail: { ...raw.detail, threatIntel: intelText } }
            : raw;
        // Without a device id the client address is the device; 127.0.0.1 and ::1 name none
        // (a loopback capture or a local runtime without its endpoint record).
        if (hit.fleet !== true && obs.client?.deviceId === undefined && addrScope(obs.clientAddr) === 'loopback') {
          this.count('detect.loopback_without_device');
          return undefined;
        }
        const r = this.dedup.emit(tenant.id, obs, hit, signals);
        if (!r) return undefined;
        if (r.created) this.families.alertsCreated.inc([hit.heuristic, r.alert.severity]);
        else this.families.alertUpdates.inc([hit.heuristic]);
        return r.alert;
      },
      count: (name: RuleCounter) => this.count(name),
    };
    for (const rule of this.rules) {
      try {
        rule.observe(ctx);
      } catch (err) {
        this.failed(rule.name, err, obs.obsId);
      }
    }
    try {
      this.store.insertObservation(obs, { h1: marks.h1 });
    } catch (err) {
      this.failed('store', err, obs.obsId);
    }
    this.countDaily(tenant.id, obs.tsUs, marks.h1);
  }

  /** Capture time of the tenant's first observation (persisted: warm-up survives restarts). */
  private warmupStart(tenant: string, tsUs: number): number {
    let first = this.firstObs.get(tenant);
    if (first === undefined) first = this.store.tenantFirstObs(tenant);
    if (first === undefined || tsUs < first) {
      first = tsUs;
      this.store.setTenantFirstObs(tenant, tsUs);
    }
    this.firstObs.set(tenant, first);
    return first;
  }

  /** Every EDR-seen hash joins the inventory with its earliest sighting (H7's "known"). */
  private learnInventory(tenant: string, obs: Observation): void {
    const h = binHash(obs);
    if (!h) return;
    const key = `${tenant}\0${h.hash}`;
    let first = this.inventory.get(key);
    if (first === undefined) first = this.store.inventoryFirstSeen(tenant, h.hash);
    if (first === undefined || obs.tsUs < first) {
      first = obs.tsUs;
      this.store.addInventory(tenant, h.hash, obs.tsUs, 'edr');
    }
    this.inventory.set(key, first);
  }

  /**
   * Records the first sighting of this (device, process, provider) and says whether this
   * observation is it (at or before the stored first sighting: a replay of the same input
   * answers the same). Recorded during warm-up too, so only what is new after it counts.
   */
  private learnPair(tenant: string, obs: Observation): boolean {
    const v = obs.verdict;
    if (!v) return false;
    const dev = deviceKey(obs);
    const proc = (obs.client?.processName ?? '-').toLowerCase();
    const key = `${tenant}\0${dev}\0${proc}\0${v.provider}`;
    let first = this.pairs.get(key);
    if (first === undefined) first = this.store.pairFirstSeen(tenant, dev, proc, v.provider);
    const isFirst = first === undefined || obs.tsUs <= first;
    if (first === undefined || obs.tsUs < first) {
      first = obs.tsUs;
      this.store.addPairFirstSeen(tenant, dev, proc, v.provider, obs.tsUs);
    }
    this.pairs.set(key, first);
    return isFirst;
  }

  private countDaily(tenant: string, tsUs: number, h1: boolean): void {
    const day = new Date(Math.floor(tsUs / 1000)).toISOString().slice(0, 10);
    this.families.perDayObservations.inc([tenant, day]);
    if (h1) this.families.perDayH1.inc([tenant, day]);
  }

  /** Every bounded structure of detect: the inventory cache and each rule's state. */
  bounds(): BoundStat[] {
    const out = [this.inventory.stat(), this.pairs.stat()];
    for (const r of this.rules) if (r.bounds !== undefined) out.push(...r.bounds());
    return out;
  }

  /** Threat indicators per tenant (loaded by the wiring from the tenants' files; replaced on
   * reload). A tenant without an entry matches nothing. */
  setThreatIntel(byTenant: Map<string, ThreatIntelIndex>): void {
    this.intel = byTenant;
  }

  /** Config reload: new tenant settings apply from the next observation; state is kept. */
  setTenants(tenants: TenantResolver): void {
    this.tenants = tenants;
  }

  /** Windows and retention, by capture time. Cheap to call often. */
  tick(nowUs: number): void {
    if (nowUs - this.lastPruneUs >= PRUNE_EVERY_US) {
      this.lastPruneUs = nowUs;
      for (const rule of this.rules) {
        try {
          rule.tick?.(nowUs);
        } catch (err) {
          this.failed(rule.name, err, '');
        }
      }
    }
    try {
      if (nowUs - this.lastRetentionUs >= RETENTION_EVERY_US) {
        this.lastRetentionUs = nowUs;
        const ttl: Record<string, number> = {};
        for (const id of this.tenants.ids()) ttl[id] = this.tenants.get(id).alert_ttl_hours;
        this.count('detect.retention_deleted', this.store.runRetention(nowUs / 1000, ttl));
      }
      this.store.flush();
    } catch (err) {
      this.failed('store', err, '');
    }
  }

  /** The counters declared in DETECT_COUNTERS (src/detect/counters.ts), families filled in. */
  stats(): Record<string, number> {
    const out: Record<string, number> = Object.fromEntries(this.counters);
    for (const f of Object.values(this.families)) f.flat(out);
    return out;
  }

  /** Alerts created by heuristic and severity (the `alerts.<heuristic>.<severity>` family). */
  alertCounts(): FamilyCounts {
    return this.families.alertsCreated;
  }
}
