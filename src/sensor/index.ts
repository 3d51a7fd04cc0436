/**
 * The sensor assembly: builds a sensor from a validated config and tears it down, in one place.
 * The commands (`llmtap run`, `replay`, `ingest`) are thin layers over it: they parse their
 * arguments, build a sensor, feed it from their source, close it and turn the result into an
 * exit code and a summary.
 *
 *   buildSensor   store (fault hooks, the config's allowlist) → outputs → flow writer → pipeline
 *   feed          packets (`pipeline.onBatch`), records another process made (`feed.flow`,
 *                 `feed.dns`), EDR records (`feed.edr`, `readEdrFiles`, `followEdr`)
 *   serve         the API and /metrics over the sensor (optional)
 *   finish        ordered: stop the sources, finish the pipeline (open flows emitted, pending
 *                 joins settled, the store committed), finish the outputs, close the API, give
 *                 the database one last try, close the flow writer; the store stays readable
 *   close         finish, then close the API served after it and the store
 *
 * Nothing here names a command or writes to stdout/stderr: what went wrong comes back in the
 * result (or a `SensorBuildError`), and the command words it.
 */
import type { Logger } from '../log.js';
import { configPath, type SensorConfig } from '../config.js';
import { Pipeline, type PipelineDeps } from '../pipeline.js';
import type { Alert, DnsAnswer, EdrConnection, FlowRecord, Observation, SourceStats } from '../records.js';
import type { WorkerCounters } from '../metrics.js';
import { Store, type StoreFaultEvent } from '../store/store.js';
// PostgreSQL and NATS clients load only when the config asks for them (a replay or a single-box
// sensor never pays their import time): the hub store and the fleet publisher are imported on use.
import type { PgStore } from '../store/pg/store.js';
import type { Outputs } from '../output/outputs.js';
import type { OutputLog } from '../output/push.js';
import { configAllowlistEntries } from './allowlist.js';
import { configTenants, finishOutputs, openOutputs } from './outputs.js';
import { openFlowsOut, type FlowsOut } from './flows-out.js';
import { storeLoss, type StoreLoss } from './loss.js';
import { followEdrFiles, readEdrFiles, type EdrFilesResult } from './edr.js';
import type { ServeOptions as ServeApiOptions } from './api.js';
import type { FleetSensor } from '../fleet/sensor.js';
import type { PublisherStats } from '../fleet/publisher.js';

export { lossReport, storeLoss, type StoreLoss } from './loss.js';
export { LineWriter } from './flows-out.js';
export { followEdrFiles, readEdrFiles, type EdrFileRead, type EdrFilesResult } from './edr.js';

/** The stores a sensor runs on: SQLite (`store.path`), or PostgreSQL (`store.url`: the fleet hub's, with the `pg` option). */
export type SensorStore = Store | PgStore;

export interface SensorOptions {
  /** The database (default: store.path of the config). */
  db?: string;
  /**
   * The fleet hub: PostgreSQL when the config sets `store.url` and no `db` is given (SQLite
   * otherwise).
   */
  pg?: boolean;
  /** Told once when a storage fault starts and once when it clears. */
  onStoreFault?: (e: StoreFaultEvent) => void;
  /** Where the push outputs warn (a bad response, a full queue). */
  outputLog?: OutputLog;
  /**
   * Every flow record as NDJSON to this file (`-`: standard output); `sync` for inputs read
   * synchronously, `stream` for live capture (src/sensor/flows-out.ts).
   */
  flows?: { path: string; mode: 'sync' | 'stream' };
  /** Every flow record, after naming, to the caller. */
  onFlow?: (rec: FlowRecord) => void;
  /** Every observation after classification, to the caller (the hub acknowledges by it). */
  onObservation?: (obs: Observation) => void;
  /** The service log (stage errors, threat intel, the API). */
  log?: Logger;
  /** Live capture: degrade new flows under overload, told per episode. */
  overload?: PipelineDeps['overload'];
  /**
   * Fleet mode: when the config names NATS servers (`fleet.servers`), every named flow record is
   * also offered to the hub (src/fleet/sensor.ts); the spool is delivered when the sensor
   * finishes. A hub, which consumes those records, leaves this off.
   */
  fleet?: boolean;
}

/** Why a sensor could not be built: the step, the database as named in messages (`where`) and the step's error (`cause`). */
export class SensorBuildError extends Error {
  constructor(readonly step: 'store' | 'allowlist' | 'outputs' | 'flows', readonly where: string, cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'SensorBuildError';
  }
}

/** Something that delivers input and is stopped first when the sensor finishes (live capture, a queue consumer). */
export interface SensorSource {
  close(): Promise<unknown> | void;
}

/** Whatever serves the API; closed when the sensor finishes (or closes, when served after). */
export interface ServedApi {
  close(): Promise<unknown> | void;
}

export interface ServeOptions {
  /** Readiness: whether capture is running (default: always). */
  running?: () => boolean;
  /** The source's counters for /metrics (default: the pipeline's packet counters). */
  source?: () => SourceStats;
  /** The captured interface (live), for the per-interface metrics. */
  iface?: string;
  /** Live capture workers' counters, for the per-worker metrics. */
  workers?: () => WorkerCounters[];
  /** Fleet mode's counters for /metrics (the hub's consumer, a sensor's publisher). */
  fleet?: ServeApiOptions['fleet'];
}

export interface FinishResult {
  /** Finishing the pipeline threw (emitting the open flows, settling the joins, the commit). */
  flushError?: Error;
  /** Outputs that kept alert changes undelivered past the wait. */
  undelivered: { name: string; queued: number; lastError?: string }[];
  /** Fleet mode: what went to NATS, and whether the spool was delivered within fleet.drain_s. */
  fleet?: PublisherStats;
  fleetDelivered?: boolean;
  /** Closing the API threw. */
  apiError?: Error;
  /** The store's last try: false when it is still not writable. */
  settled: boolean;
  /** What the database did not take (undefined when everything was stored). */
  loss?: StoreLoss;
}

/**
 * Builds a sensor: the database (with the config's allowlist stored in it), the push outputs, the
 * flow writer and the pipeline. A step that fails closes what the steps before it opened and
 * throws a `SensorBuildError` naming it — without its allowlist a sensor would raise alerts the
 * config excuses, so a store that cannot take it is a failure too.
 */
export async function buildSensor(cfg: SensorConfig, o?: SensorOptions & { pg?: false }): Promise<Sensor<Store>>;
export async function buildSensor(cfg: SensorConfig, o: SensorOptions & { pg: true }): Promise<Sensor>;
export async function buildSensor(cfg: SensorConfig, o: SensorOptions = {}): Promise<Sensor> {
  const dbPath = o.db ?? configPath(cfg, cfg.store.path, { output: true });
  const pgUrl = o.pg === true && o.db === undefined && cfg.store.url !== '' ? cfg.store.url : undefined;
  const pgMod = pgUrl !== undefined ? await import('../store/pg/store.js') : undefined;
  const where = pgUrl !== undefined && pgMod !== undefined ? pgMod.redactUrl(pgUrl) : dbPath;
  const onFault = o.onStoreFault !== undefined ? { onFault: o.onStoreFault } : {};
  let store: SensorStore;
  try {
    store = pgUrl !== undefined && pgMod !== undefined
      ? await pgMod.PgStore.open(pgUrl, pgMod.pgStoreOptions(cfg.store, onFault))
      : Store.open(dbPath, {
        retentionHours: cfg.store.retention_hours,
        busyTimeoutMs: cfg.store.busy_timeout_ms,
        queueMax: cfg.store.queue_max,
        retryIntervalMs: cfg.store.retry_interval_ms,
        ...onFault,
      });
  } catch (err) {
    throw new SensorBuildError('store', where, err);
  }
  let outputs: Outputs | undefined;
  let flowsOut: FlowsOut | undefined;
  let step: SensorBuildError['step'] = 'allowlist';
  // fleet mode: the hub's last good tenant definition and allowlist (its cache) are in force from the start
  const fleet = o.fleet === true && cfg.fleet.servers.length > 0
    ? new (await import('../fleet/sensor.js')).FleetSensor(cfg, o.log)
    : undefined;
  try {
    await store.replaceConfigAllowlist(configAllowlistEntries(fleet?.overlay(cfg) ?? cfg));
    step = 'outputs';
    outputs = await openOutputs(cfg, store, o.outputLog);
    step = 'flows';
    if (o.flows !== undefined) flowsOut = openFlowsOut(o.flows.path, o.flows.mode);
  } catch (err) {
    if (outputs !== undefined) await outputs.close();
    await store.close();
    throw new SensorBuildError(step, where, err);
  }
  return new Sensor(cfg, o, dbPath, where, store, outputs, flowsOut, fleet);
}

export class Sensor<S extends SensorStore = SensorStore> {
  readonly pipeline: Pipeline;
  /** Feed entry points for input that is not packets: records another process (a log, a worker, a hub queue) made. */
  readonly feed: {
    /** A flow record at its end time (records in time order, DNS answers among them). */
    flow(rec: FlowRecord): void;
    /** A DNS answer at its time: passive DNS learns it as from the wire. */
    dns(a: DnsAnswer): void;
    /** An EDR connection record. */
    edr(rec: EdrConnection): void;
  };
  private readonly sources: SensorSource[] = [];
  /** Fleet mode (`fleet` option and `fleet.servers`): the publisher of named flow records. */
  readonly fleet: FleetSensor | undefined;
  private outputsRunning: Outputs | undefined;
  private api: ServedApi | undefined;
  private clock: NodeJS.Timeout | undefined;
  private finishing: Promise<FinishResult> | undefined;
  private closing: Promise<FinishResult> | undefined;
  /** The config in force: the local one with the hub's tenant settings over it (fleet mode). */
  private cfg: SensorConfig;
  /** Hub settings applied one after another. */
  private settingsChain: Promise<unknown> = Promise.resolve();

  constructor(
    /** The local config (the file's; SIGHUP replaces it). */
    private baseCfg: SensorConfig,
    private readonly o: SensorOptions,
    /** The SQLite database file (and where a generated API token is written beside). */
    readonly dbPath: string,
    /** The database as named in messages: the file, or the PostgreSQL server without its password. */
    readonly where: string,
    readonly store: S,
    outputs: Outputs | undefined,
    private readonly flowsOut: FlowsOut | undefined,
    /** Fleet mode's publisher, made by `buildSensor` when `fleet` is asked for and servers are set. */
    fleet?: FleetSensor,
  ) {
    this.outputsRunning = outputs;
    this.fleet = fleet;
    const cfg = fleet?.overlay(baseCfg) ?? baseCfg;
    this.cfg = cfg;
    // every named flow record: the NDJSON writer, the fleet, the caller, in that order
    const sinks: ((rec: FlowRecord) => void)[] = [];
    if (flowsOut !== undefined) sinks.push((rec) => flowsOut.write(`${JSON.stringify(rec)}\n`));
    if (fleet !== undefined) sinks.push((rec) => fleet.onFlow(rec));
    if (o.onFlow !== undefined) sinks.push(o.onFlow);
    const [first] = sinks;
    const onFlow = sinks.length > 1 ? (rec: FlowRecord) => { for (const f of sinks) f(rec); } : first;
    this.pipeline = new Pipeline(cfg, {
      store,
      ...(o.log !== undefined ? { log: o.log } : {}),
      ...(o.overload !== undefined ? { overload: o.overload } : {}),
      ...(onFlow !== undefined ? { onFlow } : {}),
      ...(o.onObservation !== undefined ? { onObservation: o.onObservation } : {}),
    });
    const p = this.pipeline;
    // a new tenant definition or allowlist from the hub: applied as a reload of the local config
    // (rules stay: the hub's rules are the prefilter's, the local ones are reloaded on SIGHUP)
    fleet?.onSettings(() => {
      this.settingsChain = this.settingsChain.then(() => this.applyHubSettings());
    });
    fleet?.bind(p);
    this.feed = { flow: (rec) => p.addLogFlow(rec), dns: (a) => p.addDnsAnswer(a), edr: (rec) => p.addEdr(rec) };
  }

  /** The running push outputs (undefined without outputs, and once finished). */
  get outputs(): Outputs | undefined {
    return this.outputsRunning;
  }

  /** The tenants of the running config (`default` first). */
  tenants(): string[] {
    return configTenants(this.cfg);
  }

  /**
   * Live input: advance flow expiry, the join and detection on wall-clock time every `everyMs`
   * (a quiet link still ends flows and settles joins). Stopped first when the sensor finishes.
   */
  startClock(everyMs: number): void {
    if (this.clock !== undefined || this.finishing !== undefined) return;
    const p = this.pipeline;
    this.clock = setInterval(() => p.tick(Date.now() * 1000), everyMs);
  }

  /** A source to stop first when the sensor finishes, in the order added. */
  addSource(s: SensorSource): void {
    this.sources.push(s);
  }

  /**
   * Reads EDR feed files into the join: the config's `edr.files`, then `extra`, each once, as
   * `tenant` (default edr.tenant); a file that broke part way counts what it delivered
   * (src/sensor/edr.ts).
   */
  readEdrFiles(o: { extra?: readonly string[]; tenant?: string } = {}): Promise<EdrFilesResult> {
    return readEdrFiles(this.cfg, this.pipeline, o);
  }

  /**
   * Follows the config's `edr.follow` files from their end, each polled until the sensor
   * finishes. `onError` hears a file that cannot be read (missing files are retried quietly).
   */
  followEdr(onError: (name: string, err: Error) => void): void {
    for (const f of followEdrFiles(this.cfg, this.pipeline, onError)) this.addSource(f);
  }

  /**
   * Serves the API and /metrics over the sensor (src/sensor/api.ts). Without api.tokens a token
   * for tenant `default` is written to `api-token` beside the database. Closed by `finish` when
   * served before it, by `close` when served after (a replay's result kept up until stopped).
   * Returns where it listens.
   */
  async serve(o: ServeOptions = {}): Promise<{ url: string }> {
    const fleet = this.fleet;
    // loaded here, not with the sensor: a replay without --serve never loads the HTTP server
    // and the metrics registry (~0.15 s of module loading)
    const { startApi, tokenFileFor } = await import('./api.js');
    const app = await startApi(this.cfg, this.store, this.pipeline, {
      running: o.running ?? (() => true),
      tokenFile: tokenFileFor(this.dbPath),
      ...(o.source !== undefined ? { source: o.source } : {}),
      ...(o.iface !== undefined ? { iface: o.iface } : {}),
      ...(o.workers !== undefined ? { workers: o.workers } : {}),
      ...(o.fleet !== undefined ? { fleet: o.fleet } : {}),
      ...(this.o.log !== undefined ? { log: this.o.log } : {}),
      // the running outputs' counters (none once finished)
      outputs: () => this.outputsRunning?.counters() ?? [],
      ...(fleet !== undefined ? { fleet: () => ({ sensor: fleet.stats() }) } : {}),
    });
    this.api = app;
    const addr = app.server.address();
    const where = typeof addr === 'object' && addr !== null ? `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : String(addr);
    return { url: `${this.cfg.api.tls_cert !== undefined ? 'https' : 'http'}://${where}` };
  }

  /**
   * A reloaded config (SIGHUP): rules, tenants and threat intel into the pipeline, the config's
   * allowlist into the store (removed entries revoked, API entries kept). A store that cannot
   * take the allowlist keeps the stored entries (`allowlist.error`). Outputs: `reloadOutputs`.
   */
  async reload(next: SensorConfig, o: { rules?: boolean } = {}): Promise<{ rules: { ok: boolean; error?: string }; allowlist: { added: number; removed: number; kept: number } | { error: Error } }> {
    this.baseCfg = next;
    // fleet mode: the hub's tenant definition and allowlist stay over the local config
    const cfg = this.fleet?.overlay(next) ?? next;
    this.cfg = cfg;
    const rules = this.pipeline.reload(cfg, o);
    let allowlist: { added: number; removed: number; kept: number } | { error: Error };
    try {
      allowlist = await this.store.replaceConfigAllowlist(configAllowlistEntries(cfg));
    } catch (e) {
      allowlist = { error: e as Error };
    }
    return { rules, allowlist };
  }

  /** The hub sent a new tenant definition or allowlist (fleet mode): in force at once. */
  private async applyHubSettings(): Promise<void> {
    if (this.finishing !== undefined) return;
    const r = await this.reload(this.baseCfg, { rules: false });
    const log = this.o.log;
    if ('error' in r.allowlist) log?.error({ err: r.allowlist.error.message }, 'fleet: hub allowlist not applied (store not writable), keeping the stored entries');
    else log?.info({ version: this.fleet?.hubSettings.version, added: r.allowlist.added, removed: r.allowlist.removed }, 'fleet: hub tenant settings and allowlist applied');
  }

  /**
   * A reloaded config's outputs: started when none ran, else the running ones follow new tenants
   * and take the new list (file outputs reopen). Rejects when they cannot be started, or when the
   * list is invalid (the running ones are kept).
   */
  async reloadOutputs(next: SensorConfig): Promise<void> {
    const store = this.store;
    if (this.finishing !== undefined) return;
    const running = this.outputsRunning;
    if (running === undefined) {
      if (next.outputs.length > 0) this.outputsRunning = await openOutputs(next, store, this.o.outputLog);
      return;
    }
    await running.follow(configTenants(next));
    await running.configure(next.outputs);
  }

  /**
   * Ends the input, in order: stops the clock and the sources (what a source already delivered
   * is processed), finishes the pipeline (open flows emitted, pending joins settled, the store
   * committed), pushes the last alert changes to the outputs (waiting up to `outputsMs`),
   * delivers the fleet spool (fleet mode), closes the API, gives the database one last try and closes the flow writer. The store stays open:
   * summaries read it, and a replay may serve it. Called twice, the same result.
   */
  finish(o: { outputsMs: number }): Promise<FinishResult> {
    this.finishing ??= this.finishNow(o.outputsMs);
    return this.finishing;
  }

  private async finishNow(outputsMs: number): Promise<FinishResult> {
    if (this.clock !== undefined) clearInterval(this.clock);
    for (const s of this.sources) await s.close();
    const out: FinishResult = { undelivered: [], settled: false };
    try {
      this.pipeline.finish();
    } catch (e) {
      out.flushError = e as Error;
    }
    const outputs = this.outputsRunning;
    this.outputsRunning = undefined;
    if (outputs !== undefined) out.undelivered = await finishOutputs(outputs, outputsMs);
    if (this.fleet !== undefined) {
      // every spooled record reaches the stream before the run ends (bounded by fleet.drain_s)
      const f = await this.fleet.finish();
      out.fleet = f.stats;
      out.fleetDelivered = f.delivered;
    }
    const apiErr = await this.closeApi();
    if (apiErr !== undefined) out.apiError = apiErr;
    out.settled = await this.store.settle();
    const loss = storeLoss(this.store);
    if (loss !== undefined) out.loss = loss;
    await this.flowsOut?.close();
    return out;
  }

  /** `finish` (when not done yet), then close the API served after it and the store. */
  close(o: { outputsMs: number }): Promise<FinishResult> {
    this.closing ??= (async () => {
      const r = await this.finish(o);
      const apiErr = await this.closeApi();
      if (apiErr !== undefined) r.apiError ??= apiErr;
      await this.store.close();
      return r;
    })();
    return this.closing;
  }

  private async closeApi(): Promise<Error | undefined> {
    const api = this.api;
    this.api = undefined;
    try {
      await api?.close();
      return undefined;
    } catch (e) {
      return e as Error;
    }
  }
}

/** Current state of every alert of every tenant (the change log's last snapshot per id). */
export function currentAlerts(store: Store, tenants: string[]): Alert[] {
  const byId = new Map<string, Alert>();
  for (const t of tenants) {
    let after = 0;
    for (;;) {
      const page = store.listAlertChanges(t, { afterSeq: after, limit: 1000 });
      for (const a of page) byId.set(a.id, a);
      if (page.length < 1000) break;
      after = page[page.length - 1]?.seq ?? after;
    }
  }
  return [...byId.values()];
}
