/**
 * A sensor in fleet mode (`fleet.servers` set): capture → decode → flow → dissect → names run
 * here as always, and each named flow record is also offered to the hub — the AI-relevant ones
 * (`fleet.publish: ai`, a prefilter with the rules: a verdict from host, address and port, or a
 * loopback flow, where local runtimes are told apart by process only at the hub's EDR join) or
 * all of them. The local pipeline keeps running beside it (its own store and API), so a site
 * keeps its view while the hub is away. The prefilter classifies with the hub's rules for the
 * tenant (followed in the config bucket, src/fleet/config-kv.ts) once they came, with the local
 * rules before; the hub's tenant definition and allowlist (the same bucket) overlay the local
 * config's (`overlay`), applied hot by the sensor (src/sensor/index.ts).
 */
import type { Logger } from 'pino';
import type { SensorConfig } from '../config.js';
import type { FlowRecord } from '../records.js';
import type { Classifier } from '../classify/index.js';
import { addrScope } from '../attribute/normalize.js';
import { configPath } from '../config.js';
import { FleetPublisher, type PublisherStats } from './publisher.js';
import { BucketFollower, HubRules, HubSettings, RULES_KEY, SETTINGS_KEY } from './config-kv.js';

/** What the prefilter needs of the pipeline (bound after the pipeline is made). */
export interface PrefilterSource {
  classifier: Classifier;
  /** The capture clock (the watermarks the hub merges by, src/fleet/publisher.ts). */
  packets: { nowUs: number };
}

/** The classification prefilter: could the hub call this flow AI (before any EDR join)? */
export function aiRelevant(classifier: Classifier, rec: FlowRecord, tenant: string): boolean {
  const loopback = addrScope(rec.respAddr) === 'loopback';
  if (loopback) return true;
  const host = rec.host;
  const v = classifier.classify(host !== undefined ? { host, port: rec.respPort, loopback, tenant } : { addr: rec.respAddr, port: rec.respPort, loopback, tenant });
  return v !== undefined;
}

/** The publisher's counters, and the hub config versions taken and refused per key. */
export type FleetSensorStats = PublisherStats & { config: Record<'rules' | 'settings', { applied: number; rejected: number }> };

export class FleetSensor {
  readonly publisher: FleetPublisher;
  /** The hub's rules for this tenant (src/fleet/config-kv.ts); the local rules until they come. */
  readonly hubRules: HubRules;
  /** The hub's tenant definition and allowlist (src/fleet/config-kv.ts); the local config's until they come. */
  readonly hubSettings: HubSettings;
  private readonly follower: BucketFollower;
  private source: PrefilterSource | undefined;

  constructor(private readonly cfg: SensorConfig, log?: Logger) {
    const cachePath = (p: string | undefined): string | undefined => (p !== undefined ? configPath(cfg, p, { output: true }) : undefined);
    this.hubRules = new HubRules(cfg.fleet.tenant, cachePath(cfg.fleet.rules_cache), log);
    this.hubSettings = new HubSettings(cfg.fleet.tenant, cachePath(cfg.fleet.settings_cache), log);
    this.follower = new BucketFollower(cfg.fleet.tenant, { [RULES_KEY]: this.hubRules, [SETTINGS_KEY]: this.hubSettings }, log);
    this.publisher = new FleetPublisher(cfg, log, (nc) => void this.follower.follow(nc), () => this.source?.packets.nowUs ?? 0);
  }

  /** A local config with the hub's tenant definition and allowlist in force (the last good version). */
  overlay(cfg: SensorConfig): SensorConfig {
    return this.hubSettings.overlay(cfg);
  }

  /** Called after the hub sent a new good tenant definition or allowlist. */
  onSettings(f: () => void): void {
    this.hubSettings.onChange = f;
  }

  /** The pipeline whose classifier the prefilter uses; start delivering. */
  bind(source: PrefilterSource): void {
    this.source = source;
    this.publisher.start();
  }

  /** Each named flow record (Pipeline `onFlow`). */
  onFlow(rec: FlowRecord): void {
    const s = this.source;
    const classifier = this.hubRules.classifier ?? s?.classifier;
    const ai = this.cfg.fleet.publish === 'all' || (classifier !== undefined && aiRelevant(classifier, rec, this.cfg.fleet.tenant));
    this.publisher.offer(rec, ai);
  }

  stats(): FleetSensorStats {
    const r = this.hubRules;
    const st = this.hubSettings;
    return { ...this.publisher.stats(), config: { rules: { applied: r.applied, rejected: r.rejected }, settings: { applied: st.applied, rejected: st.rejected } } };
  }

  /** End of a replay: deliver the spool (bounded by `fleet.drain_s`), then close. */
  async finish(): Promise<{ delivered: boolean; stats: FleetSensorStats }> {
    // the final watermark, behind every record: the hub stops waiting for this sensor
    this.publisher.watermark(true);
    const delivered = await this.publisher.drain(this.cfg.fleet.drain_s * 1000);
    const stats = this.stats();
    this.follower.stop();
    await this.publisher.close();
    return { delivered, stats };
  }
}
