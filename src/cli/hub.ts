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
import { loadConfig, type SensorConfig } from '../config.js';
import { buildSensor, SensorBuildError, type Sensor } from '../sensor/index.js';
import { EXIT, printUsage, wantsHelp } from './exit.js';
import { HubConsumer } from '../fleet/hub.js';

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
  let consumer: HubConsumer | undefined;
  let sensor: Sensor;
  try {
    // no capture source and no fleet publishing: the records arrive from NATS (src/fleet/hub.ts);
    // PostgreSQL when store.url is set (the fleet's store, docs/fleet.md), else SQLite
    sensor = await buildSensor(cfg, {
      ...(values.db !== undefined ? { db: values.db } : {}),
      pg: true,
      log: root,
      outputLog: root.child({ stage: 'output' }),
      onStoreFault: (e) => {
        const { state, path, ...rest } = e;
        if (state === 'started') log.error({ db: path, ...rest }, 'database not writable: records are not acknowledged until it is');
        else log.warn({ db: path, ...rest }, 'database writable again');
      },
      onObservation: (o) => consumer?.observed(o),
    });
  } catch (e) {
    if (!(e instanceof SensorBuildError)) throw e;
    if (e.step === 'outputs') {
      // push outputs follow the store's change log as on a single box (docs/fleet.md)
      const code = (e.cause as { code?: string }).code ?? 'LLMTAP_ERR_CONFIG';
      log.error({ code, err: e.message }, `llmtap hub: outputs: ${e.message}`);
      return code === 'LLMTAP_ERR_CONFIG' ? EXIT.usage : EXIT.failed;
    }
    log.error({ code: 'LLMTAP_ERR_STORE_OPEN', db: e.where, err: e.message }, `llmtap hub: cannot open the database ${e.where}: ${e.message}`);
    return EXIT.failed;
  }
  const c = new HubConsumer(cfg, sensor.pipeline, sensor.store, root.child({ stage: 'fleet' }));
  consumer = c;
  const edr = await sensor.readEdrFiles();
  for (const r of edr.results) log.info({ file: r.name, accepted: r.result.accepted }, 'EDR file read');
  for (const f of edr.failures) log.warn({ file: f.name, err: f.error.message }, 'EDR file unreadable');
  sensor.followEdr((name, err) => log.warn({ file: name, err: err.message }, 'EDR feed unreadable'));

  if (!values['no-api']) await sensor.serve({ running: () => c.connected, fleet: () => ({ hub: c.metrics() }) });
  try {
    await c.start();
  } catch (e) {
    log.error({ code: 'LLMTAP_ERR_FLEET', err: (e as Error).message }, `llmtap hub: NATS: ${(e as Error).message}`);
    await sensor.close({ outputsMs: 5000 });
    return EXIT.failed;
  }
  // stopped after the followed feeds: settles the joins, commits and acknowledges
  sensor.addSource({ close: () => c.stop() });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (why: string): Promise<void> => {
      if (stopping) return;
      stopping = true;
      log.info({ why }, 'stopping: settling joins, committing, acknowledging');
      // what the last commit wrote reaches the outputs (delivery awaited, bounded)
      const r = await sensor.close({ outputsMs: 5000 });
      for (const l of r.undelivered) log.warn({ output: l.name, queued: l.queued, err: l.lastError }, 'output: alert changes not delivered at shutdown');
      log.info({ fleet: c.counts }, 'stopped');
      resolve(EXIT.ok);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGHUP', () => {
      let next: SensorConfig;
      try {
        next = loadConfig(values.config);
      } catch (e) {
        log.error({ err: (e as Error).message }, 'SIGHUP: config invalid, keeping the running one');
        return;
      }
      sensor.reloadOutputs(next).catch((e: Error) => log.error({ err: e.message }, 'SIGHUP: outputs not reloaded, keeping the running ones'));
      void sensor.reload(next).then((r) => {
        if ('error' in r.allowlist) log.error({ err: r.allowlist.error.message }, 'SIGHUP: config allowlist not applied');
        if (r.rules.ok) {
          log.info('SIGHUP: rules, tenants and allowlist reloaded');
          // the sensors' prefilter follows (config bucket per tenant)
          c.publishRules().catch((e: Error) => log.error({ err: e.message }, 'SIGHUP: rules not published to the sensors'));
        } else log.error({ err: r.rules.error }, 'SIGHUP: rule reload failed, keeping the running rules');
      });
    });
  });
}
