/**
 * `llmtap hub --config FILE`: the center of fleet mode (docs/fleet.md). Consumes every sensor's
 * named flow records from NATS JetStream (src/fleet/hub.ts) and the EDR feeds (files of
 * `edr.files`, followed files of `edr.follow`, the HTTP ingest route, the `llmtap.edr.<tenant>`
 * subjects), runs the join, classification and detection fleet-wide per tenant, stores alerts
 * and observations, pushes alert changes to the config's `outputs` (syslog, file, webhook) as a
 * sensor does, and serves the same API and metrics as a sensor, until SIGTERM/SIGINT.
 * SIGHUP reloads rules, tenants, the allowlist and the outputs as `llmtap run` does, and publishes each
 * tenant's rules to its sensors (src/fleet/config-kv.ts).
 *
 * Exit codes: 0 clean stop, 1 runtime failure (NATS unreachable at start, database), 2 usage or
 * configuration error.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../log.js';
import { configPath, loadConfig, type SensorConfig } from '../config.js';
import { Pipeline } from '../pipeline.js';
import { Store } from '../store/store.js';
import { PgStore, redactUrl } from '../store/pg/store.js';
import { followEdrFiles, readEdrFiles } from '../sensor/edr.js';
import { configAllowlistEntries } from '../sensor/allowlist.js';
import { configTenants, finishOutputs, openOutputs } from '../sensor/outputs.js';
import type { ChangeSource, Outputs } from '../output/outputs.js';
import type { ServedStore } from '../sensor/api.js';
import { EXIT, printUsage, wantsHelp } from './exit.js';
import { HubConsumer, type HubStore } from '../fleet/hub.js';
import type { FastifyInstance } from 'fastify';

export const HUB_USAGE = `usage: llmtap hub --config FILE [--db PATH] [--no-api]

The fleet hub: consumes the flow records of every sensor from NATS JetStream (fleet.servers of
the config) and the EDR feeds, detects fleet-wide per tenant, stores and serves the alerts.

options:
  --config FILE   hub config (YAML/JSON): fleet.servers, fleet.user, fleet.password_file,
                  tenants, rules, edr, store, api
  --db PATH       database (default: store.path of the config)
  --no-api        do not serve the API
  -h, --help      this text

exit codes: 0 clean stop, 1 runtime failure (NATS, database), 2 usage or configuration error
`;

export async function hubCommand(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) return printUsage(HUB_USAGE);
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, db: { type: 'string' }, 'no-api': { type: 'boolean', default: false } },
  });
  const root = createLogger();
  const log = root.child({ stage: 'hub' });
  if (values.config === undefined) {
    process.stderr.write(`llmtap hub: give --config FILE (llmtap hub --help shows the usage)\n`);
    return EXIT.usage;
  }
  let cfg: SensorConfig;
  try {
    cfg = loadConfig(values.config);
  } catch (e) {
    log.error({ code: 'LLMTAP_ERR_CONFIG', err: (e as Error).message }, `llmtap hub: ${(e as Error).message}`);
    return EXIT.usage;
  }
  root.level = cfg.log.level;
  if (cfg.fleet.servers.length === 0) {
    log.error({ code: 'LLMTAP_ERR_CONFIG' }, 'llmtap hub: fleet.servers is empty: name the NATS servers of the fleet');
    return EXIT.usage;
  }
  const dbPath = values.db ?? configPath(cfg, cfg.store.path, { output: true });
  const pgUrl = values.db === undefined && cfg.store.url !== '' ? cfg.store.url : undefined;
  const onFault = (e: { state: string; path: string }): void => {
    const { state, path, ...rest } = e;
    if (state === 'started') log.error({ db: path, ...rest }, 'database not writable: records are not acknowledged until it is');
    else log.warn({ db: path, ...rest }, 'database writable again');
  };
  let store: HubStore & ServedStore & ChangeSource & { replaceConfigAllowlist: Store['replaceConfigAllowlist'] | PgStore['replaceConfigAllowlist']; close(): unknown };
  try {
    const o = { retentionHours: cfg.store.retention_hours, queueMax: cfg.store.queue_max, retryIntervalMs: cfg.store.retry_interval_ms, onFault };
    // PostgreSQL when store.url is set (the fleet's store, docs/fleet.md), else SQLite
    store = pgUrl !== undefined ? await PgStore.open(pgUrl, o) : Store.open(dbPath, { ...o, busyTimeoutMs: cfg.store.busy_timeout_ms });
    await store.replaceConfigAllowlist(configAllowlistEntries(cfg));
  } catch (e) {
    const where = pgUrl !== undefined ? redactUrl(pgUrl) : dbPath;
    log.error({ code: 'LLMTAP_ERR_STORE_OPEN', db: where, err: (e as Error).message }, `llmtap hub: cannot open the database ${where}: ${(e as Error).message}`);
    return EXIT.failed;
  }
  // push outputs follow the store's change log as on a single box (docs/fleet.md)
  let outputs: Outputs | undefined;
  try {
    outputs = await openOutputs(cfg, store, root.child({ stage: 'output' }));
  } catch (e) {
    const code = (e as { code?: string }).code ?? 'LLMTAP_ERR_CONFIG';
    log.error({ code, err: (e as Error).message }, `llmtap hub: outputs: ${(e as Error).message}`);
    await store.close();
    return code === 'LLMTAP_ERR_CONFIG' ? EXIT.usage : EXIT.failed;
  }
  let consumer: HubConsumer | undefined;
  const pipeline = new Pipeline(cfg, { store, log: root, onObservation: (o) => consumer?.observed(o) });
  consumer = new HubConsumer(cfg, pipeline, store, root.child({ stage: 'fleet' }));
  const edr = await readEdrFiles(cfg, pipeline);
  for (const r of edr.results) log.info({ file: r.name, accepted: r.result.accepted }, 'EDR file read');
  for (const f of edr.failures) log.warn({ file: f.name, err: f.error.message }, 'EDR file unreadable');
  const followers = followEdrFiles(cfg, pipeline, (name, err) => log.warn({ file: name, err: err.message }, 'EDR feed unreadable'));

  let api: FastifyInstance | undefined;
  if (!values['no-api']) {
    const { startApi, tokenFileFor } = await import('../sensor/api.js');
    const c = consumer;
    api = await startApi(cfg, store, pipeline, { running: () => c.connected, log: root, tokenFile: tokenFileFor(dbPath), fleet: () => ({ hub: c.metrics() }), outputs: () => outputs?.counters() ?? [] });
  }
  try {
    await consumer.start();
  } catch (e) {
    log.error({ code: 'LLMTAP_ERR_FLEET', err: (e as Error).message }, `llmtap hub: NATS: ${(e as Error).message}`);
    await api?.close();
    await outputs?.close();
    await store.close();
    return EXIT.failed;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (why: string): Promise<void> => {
      if (stopping) return;
      stopping = true;
      log.info({ why }, 'stopping: settling joins, committing, acknowledging');
      await Promise.all(followers.map((f) => f.close()));
      await consumer.stop();
      // what the last commit wrote reaches the outputs (delivery awaited, bounded)
      const running = outputs;
      outputs = undefined;
      if (running !== undefined) {
        for (const l of await finishOutputs(running, 5000)) log.warn({ output: l.name, queued: l.queued, err: l.lastError }, 'output: alert changes not delivered at shutdown');
      }
      await api?.close();
      await store.close();
      log.info({ fleet: consumer.counts }, 'stopped');
      resolve(EXIT.ok);
    };
    const reloadOutputs = async (next: SensorConfig): Promise<void> => {
      if (stopping) return;
      const running = outputs;
      if (running === undefined) {
        if (next.outputs.length > 0) outputs = await openOutputs(next, store, root.child({ stage: 'output' }));
        return;
      }
      await running.follow(configTenants(next));
      await running.configure(next.outputs);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGHUP', () => {
      try {
        const next = loadConfig(values.config);
        const r = pipeline.reload(next);
        void Promise.resolve(store.replaceConfigAllowlist(configAllowlistEntries(next))).catch((e: Error) => log.error({ err: e.message }, 'SIGHUP: config allowlist not applied'));
        void reloadOutputs(next).catch((e: Error) => log.error({ err: e.message }, 'SIGHUP: outputs not reloaded, keeping the running ones'));
        if (r.ok) {
          log.info('SIGHUP: rules, tenants and allowlist reloaded');
          // the sensors' prefilter follows (config bucket per tenant)
          consumer.publishRules().catch((e: Error) => log.error({ err: e.message }, 'SIGHUP: rules not published to the sensors'));
        }
        else log.error({ err: r.error }, 'SIGHUP: rule reload failed, keeping the running rules');
      } catch (e) {
        log.error({ err: (e as Error).message }, 'SIGHUP: config invalid, keeping the running one');
      }
    });
  });
}
