/**
 * Configuration flows down: the hub writes each tenant's rule set (the export document of
 * `llmtap rules export`, the default rules plus that tenant's own) to the JetStream key-value
 * bucket `llmtap-config-<tenant>`, key `rules`, at start and on SIGHUP; a sensor of that tenant
 * follows the key (reads it every 2 s) and classifies with the newest version that is valid (its prefilter: which
 * flow records go to the hub). A version that does not load is logged and skipped; the last
 * good one stays, also across a sensor restart while the hub is away (`fleet.rules_cache`).
 * A sensor's NATS user can read only its own tenant's bucket (sensorPermissions).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { Classifier } from '../classify/index.js';
import { classifierFromExport } from '../classify/classifier.js';
import { configBucket } from './subjects.js';

export const RULES_KEY = 'rules';
/** How often a sensor reads its tenant's rules key. */
const POLL_MS = 2000;

/** Hub: each tenant's rule document into its bucket (made when missing); returns the versions written. */
export async function publishRules(nc: NatsConnection, classifier: Classifier, tenants: string[], replicas: number): Promise<Record<string, string>> {
  const kvm = new Kvm(nc);
  const out: Record<string, string> = {};
  for (const t of tenants) {
    const kv = await kvm.create(configBucket(t), { replicas, history: 5 });
    const doc = classifier.exportDocument(t) as { version?: string };
    await kv.put(RULES_KEY, JSON.stringify(doc));
    out[t] = doc.version ?? '';
  }
  return out;
}

/** A rule document → a classifier, or the reason it cannot be one. */
function load(text: string): { classifier: Classifier; version: string } | { error: string } {
  try {
    const doc = JSON.parse(text) as { version?: string };
    return { classifier: classifierFromExport(doc), version: doc.version ?? '' };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** Sensor: the hub's rules for its tenant, watched; the last good version kept. */
export class HubRules {
  classifier: Classifier | undefined;
  version: string | undefined;
  /** Versions that did not load (kept the previous one). */
  rejected = 0;
  private stopped = false;

  constructor(
    private readonly tenant: string,
    private readonly cachePath: string | undefined,
    private readonly log?: Logger,
  ) {
    if (cachePath === undefined) return;
    let text: string;
    try {
      text = readFileSync(cachePath, 'utf8');
    } catch {
      return; // no cache yet
    }
    const r = load(text);
    if ('error' in r) this.log?.warn({ file: cachePath, err: r.error }, 'fleet: cached hub rules unusable; waiting for the hub');
    else {
      this.classifier = r.classifier;
      this.version = r.version;
      this.log?.info({ version: r.version }, 'fleet: hub rules from the cache (the hub may be away)');
    }
  }

  /**
   * Follow the tenant's `rules` key for as long as the connection lives: read every
   * `POLL_MS` (a direct get: no consumer, nothing to recreate after a reconnect, no timer left
   * behind when the sensor stops), a new revision taken as it comes.
   */
  async watch(nc: NatsConnection): Promise<void> {
    let kv: Awaited<ReturnType<Kvm['open']>> | undefined;
    let seen = -1;
    while (!this.stopped && !nc.isClosed()) {
      try {
        kv ??= await new Kvm(nc).open(configBucket(this.tenant), { bindOnly: true });
        const e = await kv.get(RULES_KEY);
        if (!this.stopped && e !== null && e.operation === 'PUT' && e.revision !== seen) {
          seen = e.revision;
          this.take(e.string(), e.revision);
        }
      } catch (err) {
        if (this.stopped || nc.isClosed()) return;
        this.log?.debug({ err: (err as Error).message }, 'fleet: hub rules not readable yet');
      }
      await new Promise((r) => setTimeout(r, POLL_MS).unref());
    }
  }

  /** One version of the rules: used when it loads, else logged and the last good one kept. */
  take(text: string, revision = 0): boolean {
    const r = load(text);
    if ('error' in r) {
      this.rejected++;
      this.log?.error({ revision, err: r.error, keeping: this.version }, 'fleet: hub rules invalid; keeping the last good version');
      return false;
    }
    if (r.version === this.version) return true;
    this.classifier = r.classifier;
    this.version = r.version;
    this.log?.info({ version: r.version, revision }, 'fleet: hub rules loaded');
    if (this.cachePath !== undefined) {
      try {
        writeFileSync(`${this.cachePath}.tmp`, text);
        renameSync(`${this.cachePath}.tmp`, this.cachePath);
      } catch (err) {
        this.log?.warn({ file: this.cachePath, err: (err as Error).message }, 'fleet: cannot cache the hub rules');
      }
    }
    return true;
  }

  stop(): void {
    this.stopped = true;
  }
}
