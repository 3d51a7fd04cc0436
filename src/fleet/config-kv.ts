/**
 * Configuration flows down: the hub writes each tenant's configuration for its sensors to the
 * JetStream key-value bucket `llmtap-config-<tenant>`:
 *
 *   rules     the tenant's rule set (the export document of `llmtap rules export`: the default
 *             rules plus that tenant's own) — the sensor's prefilter
 *   settings  the tenant's definition (`tenants:` entry: ranges, VLANs, privacy switches, payload
 *             entropy, detection settings) and its allowlist (the config's entries and those
 *             added through the API) — the sensor's own pipeline and store
 *
 * written at start, after SIGHUP, and whenever the tenant's allowlist changed (checked every
 * second: API additions, removals, approved candidates, expiries). A sensor of that tenant
 * watches the bucket (a KV watch: the last value of each key, then every update) and applies the
 * newest version that is valid — the settings validated by the same schema as a local config
 * (src/config.ts) — hot, without a restart. A version that does not load is logged, counted and
 * skipped; the last good one stays, also across a sensor restart while the hub is away
 * (`fleet.rules_cache`, `fleet.settings_cache`). A sensor's NATS user can read only its own
 * tenant's bucket (sensorPermissions).
 *
 * The watch is an ordered push consumer. With nats-server 2.9 it survives a reconnect only
 * slowly (the client notices the lost consumer after missed heartbeats, about 30 s) and can end
 * when JetStream is briefly without a leader, so the sensor makes a new watch after every
 * reconnect and whenever one ends (its first values are the current ones; revisions already
 * seen are skipped).
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { Classifier } from '../classify/index.js';
import { classifierFromExport } from '../classify/classifier.js';
import { configFromObject, parseExpiry, type SensorConfig } from '../config.js';
import type { TenantConfig } from '../tenants/schema.js';
import type { AllowlistEntry } from '../store/types.js';
import { configBucket } from './subjects.js';

export const RULES_KEY = 'rules';
export const SETTINGS_KEY = 'settings';
/** How long a sensor waits before watching again after a watch could not be made or ended. */
const REWATCH_MS = 1000;

type AllowlistConfigEntry = SensorConfig['allowlist'][number];

/** The `settings` document of one tenant. */
export interface SettingsDocument {
  /** Content version: the first 16 hex digits of the SHA-256 of `tenant` and `allowlist`. */
  version: string;
  /** The tenant's `tenants:` entry (without threat-intel files: paths on the hub). */
  tenant: Record<string, unknown>;
  /** The tenant's allowlist, as `allowlist:` config entries. */
  allowlist: AllowlistConfigEntry[];
}

/** A stored allowlist entry as a config entry (the hash by its length; expiry as ISO 8601). */
function configEntry(tenant: string, e: AllowlistEntry): AllowlistConfigEntry {
  const out: AllowlistConfigEntry = { tenant, process: e.processName, justification: e.justification };
  if (e.binaryHash !== undefined) {
    if (e.binaryHash.length === 40) out.sha1 = e.binaryHash;
    else out.sha256 = e.binaryHash;
  }
  if (e.deviceGroup !== undefined) out.device_group = e.deviceGroup;
  if (e.provider !== undefined) out.provider = e.provider;
  if (e.category !== undefined) out.category = e.category;
  if (e.expiresAtMs !== undefined) out.expires = new Date(e.expiresAtMs).toISOString();
  return out;
}

/** Hub: one tenant's settings document from its config and its stored allowlist (entries already expired left out). */
export function settingsDocument(t: TenantConfig, allowlist: readonly AllowlistEntry[], nowMs = Date.now()): SettingsDocument {
  const { threat_intel: _files, ...tenant } = t;
  const entries = allowlist.filter((e) => e.expiresAtMs === undefined || e.expiresAtMs > nowMs).map((e) => configEntry(t.id, e));
  const version = createHash('sha256').update(JSON.stringify({ tenant, allowlist: entries })).digest('hex').slice(0, 16);
  return { version, tenant, allowlist: entries };
}

/** What the hub reads to write the settings: the tenants of its config and each one's allowlist. */
export interface ConfigSource {
  classifier: Classifier;
  tenants: readonly TenantConfig[];
  listAllowlist(tenant: string): Promise<AllowlistEntry[]> | AllowlistEntry[];
}

/**
 * Hub: writes each tenant's `rules` and `settings` into its bucket (made when missing) when
 * their content changed since the last write by this hub (a new hub writes once at start).
 * Calls run one after another.
 */
export class ConfigPublisher {
  private readonly kvs = new Map<string, KV>();
  /** The last content written per `tenant/key`. */
  private readonly written = new Map<string, string>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly nc: NatsConnection,
    private readonly replicas: number,
  ) {}

  /** Writes what changed; resolves to the versions written now (tenant → key → version). */
  publish(src: ConfigSource): Promise<Record<string, Record<string, string>>> {
    const run = this.chain.then(() => this.publishNow(src));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async publishNow(src: ConfigSource): Promise<Record<string, Record<string, string>>> {
    const out: Record<string, Record<string, string>> = {};
    for (const t of src.tenants) {
      const rules = src.classifier.exportDocument(t.id) as { version?: string };
      const settings = settingsDocument(t, await src.listAllowlist(t.id));
      for (const [key, doc, version] of [[RULES_KEY, rules, rules.version ?? ''], [SETTINGS_KEY, settings, settings.version]] as const) {
        const text = JSON.stringify(doc);
        if (this.written.get(`${t.id}/${key}`) === text) continue;
        let kv = this.kvs.get(t.id);
        if (kv === undefined) {
          kv = await new Kvm(this.nc).create(configBucket(t.id), { replicas: this.replicas, history: 5 });
          this.kvs.set(t.id, kv);
        }
        await kv.put(key, text);
        this.written.set(`${t.id}/${key}`, text);
        (out[t.id] ??= {})[key] = version;
      }
    }
    return out;
  }
}

/** Writes a last good version beside its use (atomic rename); a failure is logged, not fatal. */
function cache(path: string | undefined, text: string, what: string, log?: Logger): void {
  if (path === undefined) return;
  try {
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  } catch (err) {
    log?.warn({ file: path, err: (err as Error).message }, `fleet: cannot cache the hub ${what}`);
  }
}

function readCache(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // no cache yet
  }
}

/** One key the sensor follows: a version loads or is refused; the last good one is kept. */
abstract class Followed<T> {
  value: T | undefined;
  version: string | undefined;
  /** Versions taken (a new good version). */
  applied = 0;
  /** Versions that did not load (kept the previous one). */
  rejected = 0;

  constructor(
    protected readonly tenant: string,
    private readonly cachePath: string | undefined,
    protected readonly what: string,
    protected readonly log?: Logger,
  ) {
    const text = readCache(cachePath);
    if (text === undefined) return;
    const r = this.load(text);
    if ('error' in r) this.log?.warn({ file: cachePath, err: r.error }, `fleet: cached hub ${what} unusable; waiting for the hub`);
    else {
      this.value = r.value;
      this.version = r.version;
      this.log?.info({ version: r.version }, `fleet: hub ${what} from the cache (the hub may be away)`);
    }
  }

  protected abstract load(text: string): { value: T; version: string } | { error: string };

  /** Called after a new good version was taken. */
  onChange: (() => void) | undefined;

  /** One version: used when it loads (and cached), else logged, counted and the last good one kept. */
  take(text: string, revision = 0): boolean {
    const r = this.load(text);
    if ('error' in r) {
      this.rejected++;
      this.log?.error({ revision, err: r.error, keeping: this.version }, `fleet: hub ${this.what} invalid; keeping the last good version`);
      return false;
    }
    if (r.version === this.version) return true;
    this.value = r.value;
    this.version = r.version;
    this.applied++;
    this.log?.info({ version: r.version, revision }, `fleet: hub ${this.what} loaded`);
    cache(this.cachePath, text, this.what, this.log);
    this.onChange?.();
    return true;
  }
}

/** Sensor: the hub's rules for its tenant; the last good version kept. */
export class HubRules extends Followed<Classifier> {
  constructor(tenant: string, cachePath: string | undefined, log?: Logger) {
    super(tenant, cachePath, 'rules', log);
  }

  get classifier(): Classifier | undefined {
    return this.value;
  }

  protected load(text: string): { value: Classifier; version: string } | { error: string } {
    try {
      const doc = JSON.parse(text) as { version?: string };
      return { value: classifierFromExport(doc), version: doc.version ?? '' };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }

}

/** The tenant definition and allowlist of a valid settings document. */
export interface HubSettingsValue {
  tenant: TenantConfig;
  allowlist: AllowlistConfigEntry[];
}

/** Sensor: the hub's tenant definition and allowlist, validated as a local config's. */
export class HubSettings extends Followed<HubSettingsValue> {
  constructor(tenant: string, cachePath: string | undefined, log?: Logger) {
    super(tenant, cachePath, 'settings', log);
  }

  protected load(text: string): { value: HubSettingsValue; version: string } | { error: string } {
    try {
      const doc = JSON.parse(text) as Partial<SettingsDocument>;
      if (typeof doc !== 'object' || doc === null || typeof doc.version !== 'string' || typeof doc.tenant !== 'object' || !Array.isArray(doc.allowlist)) {
        return { error: 'not a settings document (version, tenant, allowlist)' };
      }
      if (doc.tenant === null || doc.tenant['id'] !== this.tenant) return { error: `the tenant is not ${this.tenant}` };
      // an entry that expired since the hub wrote it no longer matches: left out (not a reason to
      // refuse the version — a cached copy read at a restart days later stays usable)
      const now = Date.now();
      const live = doc.allowlist.filter((e: unknown) => {
        const exp = (e as { expires?: unknown } | null)?.expires;
        const ms = typeof exp === 'string' ? parseExpiry(exp) : undefined;
        return ms === undefined || ms > now;
      });
      // the same schema and checks as a local config's tenants: and allowlist: sections
      const cfg = configFromObject({ tenants: [doc.tenant], allowlist: live }, `hub settings ${doc.version}`);
      const other = cfg.allowlist.find((e) => e.tenant !== this.tenant);
      if (other !== undefined) return { error: `an allowlist entry of tenant ${other.tenant}` };
      return { value: { tenant: cfg.tenants[0]!, allowlist: cfg.allowlist }, version: doc.version };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }

  /**
   * A local config with the hub's settings in force: the tenant's definition replaces the local
   * one of the same id (the local threat-intel files stay: they are paths of this machine) and
   * its allowlist replaces the local entries of that tenant. Before any version: the config.
   */
  overlay(cfg: SensorConfig): SensorConfig {
    const v = this.value;
    if (v === undefined) return cfg;
    const local = cfg.tenants.find((t) => t.id === this.tenant);
    const tenant: TenantConfig = { ...v.tenant, threat_intel: local?.threat_intel ?? v.tenant.threat_intel };
    return {
      ...cfg,
      tenants: [...cfg.tenants.filter((t) => t.id !== this.tenant), tenant],
      allowlist: [...cfg.allowlist.filter((e) => e.tenant !== this.tenant), ...v.allowlist],
    };
  }
}

/**
 * Follows a tenant's config bucket for as long as the connection lives: a KV watch over every
 * key (the current values first, then each update), made again after a reconnect and whenever
 * it ends; each key's new revisions go to its handler.
 */
export class BucketFollower {
  private stopped = false;
  private current: { stop(): void } | undefined;
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly tenant: string,
    private readonly keys: Record<string, { take(text: string, revision: number): boolean }>,
    private readonly log?: Logger,
  ) {}

  async follow(nc: NatsConnection): Promise<void> {
    void (async () => {
      for await (const s of nc.status()) {
        // the watch's consumer may be gone with the server: watch again at once
        if (s.type === 'reconnect') this.current?.stop();
      }
    })().catch(() => undefined);
    while (!this.stopped && !nc.isClosed()) {
      try {
        const kv = await new Kvm(nc).open(configBucket(this.tenant), { bindOnly: true });
        const w = await kv.watch({ key: '>' });
        this.current = w;
        if (this.stopped) w.stop();
        for await (const e of w) {
          if (this.stopped) break;
          const h = this.keys[e.key];
          if (h === undefined || e.operation !== 'PUT' || e.revision <= (this.seen.get(e.key) ?? 0)) continue;
          this.seen.set(e.key, e.revision);
          h.take(e.string(), e.revision);
        }
      } catch (err) {
        if (this.stopped || nc.isClosed()) return;
        this.log?.debug({ err: (err as Error).message }, 'fleet: hub config not readable yet');
      } finally {
        this.current = undefined;
      }
      if (this.stopped || nc.isClosed()) return;
      await new Promise((r) => setTimeout(r, REWATCH_MS).unref());
    }
  }

  stop(): void {
    this.stopped = true;
    this.current?.stop();
  }
}
