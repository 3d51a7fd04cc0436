/**
 * `llmtap run --iface NAME [--config FILE]`: the whole pipeline on a live interface, with the
 * API served, until SIGTERM/SIGINT.
 *
 * - The interface is opened first, so a missing interface or missing permission fails at once
 *   with one clear line and its own exit code, before the database is touched.
 * - SIGTERM/SIGINT: stop capture (the packets already captured are still delivered), emit every
 *   open flow, settle pending EDR joins, commit and close the database, close the API. Exit 0.
 * - SIGHUP: re-read the config file and reload rules, tenants, allowlist and threat-intel files without stopping
 *   capture (the allowlist lives in the store and is read live). A config that fails
 *   validation is logged and the running one is kept.
 * - Capture needs root, or CAP_NET_RAW as a non-root user (promiscuous mode included): systemd
 *   `AmbientCapabilities=CAP_NET_RAW` (config/systemd/llmtap.service), or `setcap cap_net_raw+ep`
 *   on a node binary used only by llmtap (the Docker image does this; see docs/deploy.md).
 *
 * Exit codes (src/cli/exit.ts): 0 clean stop, 1 runtime failure (interface missing, permission
 * missing, capture binding not built, database or flush failure: the stderr line names the
 * LLMTAP_ERR_… code), 2 usage or config error (a BPF filter that does not compile included).
 */
import { parseArgs } from 'node:util';
import { auditLogger, createLogger, type Logger } from '../log.js';
import { configWarnings } from './config-check.js';
import { loadConfig, type SensorConfig } from '../config.js';
import { buildSensor, SensorBuildError, type Sensor } from '../sensor/index.js';
import type { Store } from '../store/store.js';
import { EXIT, printUsage, wantsHelp } from './exit.js';
import { LiveCaptureError, LiveSource, listInterfaces, type LiveOptions } from '../source/live.js';
import { LiveWorkerCapture } from '../workers/live.js';
import { parseWorkers } from '../workers/replay.js';
import { availableParallelism } from 'node:os';
import { flowTableOptionsFrom } from '../flow/table.js';
import { dissectOptionsFrom } from '../dissect/index.js';

export const RUN_EXIT = EXIT;

export interface RunDeps {
  log?: Logger;
}

export const RUN_USAGE = `usage: llmtap run --iface NAME [--config FILE] [--db PATH] [--bpf EXPR] [--backend native|cap]
                  [--workers N|auto] [--flows OUT.ndjson] [--no-api] [--list-interfaces]

Captures on a live interface (a mirror port) until SIGTERM/SIGINT, serving the API;
SIGHUP reloads the config.

options:
  --iface NAME        interface to capture on (default: capture.iface of the config)
  --config FILE       sensor config (YAML/JSON); default: built-in defaults
  --db PATH           database (default: store.path of the config)
  --bpf EXPR          capture filter (default: capture.bpf)
  --backend B         native (default) or cap
  --workers N|auto    capture workers sharing the interface by flow (default: capture.workers;
                      auto: one per core but one, left for the rest of the pipeline)
  --flows OUT         write every flow record as NDJSON
  --no-api            do not serve the API
  --list-interfaces   list the interfaces and exit
  -h, --help          this text

exit codes: 0 clean stop, 1 runtime failure (no such interface, no capture permission, binding
            not built, database), 2 usage or configuration error`;
const USAGE = RUN_USAGE;

function exitFor(e: LiveCaptureError): number {
  switch (e.code) {
    case 'LLMTAP_ERR_CAPTURE_CONFIG':
    case 'LLMTAP_ERR_CAPTURE_BPF': return RUN_EXIT.usage;
    default: return RUN_EXIT.failed;
  }
}

export async function runCommand(argv: string[], deps: RunDeps = {}): Promise<number> {
  if (wantsHelp(argv)) return printUsage(RUN_USAGE);
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        iface: { type: 'string' },
        config: { type: 'string' },
        db: { type: 'string' },
        bpf: { type: 'string' },
        backend: { type: 'string' },
        workers: { type: 'string' },
        flows: { type: 'string' },
        'no-api': { type: 'boolean', default: false },
        'list-interfaces': { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    process.stderr.write(`llmtap run: ${(e as Error).message}\n${USAGE}\n`);
    return RUN_EXIT.usage;
  }
  if (values['list-interfaces']) {
    for (const i of listInterfaces()) process.stdout.write(`${i.name}\t${i.addresses.join(' ')}\n`);
    return RUN_EXIT.ok;
  }
  // From here on every line is the service log: JSON lines unless stderr is a terminal.
  const root = deps.log ?? createLogger();
  const log = root.child({ stage: 'run' });
  let cfg: SensorConfig;
  try {
    cfg = loadConfig(values.config);
  } catch (e) {
    log.error({ code: (e as { code?: string }).code ?? 'LLMTAP_ERR_CONFIG', err: (e as Error).message }, `llmtap run: ${(e as Error).message}`);
    return RUN_EXIT.usage;
  }
  if (deps.log === undefined) root.level = cfg.log.level;
  for (const w of configWarnings(cfg)) log.warn({ code: 'LLMTAP_WARN_CONFIG' }, w);
  const iface = values.iface ?? cfg.capture.iface;
  if (iface === undefined || iface === '') {
    log.error({ code: 'LLMTAP_ERR_USAGE' }, 'llmtap run: no interface: give --iface NAME or capture.iface in the config (llmtap run --help shows the usage)');
    return RUN_EXIT.usage;
  }
  const backend = values.backend ?? cfg.capture.backend;
  if (backend !== 'native' && backend !== 'cap') {
    log.error({ code: 'LLMTAP_ERR_USAGE' }, `llmtap run: --backend must be native or cap (got '${backend}')`);
    return RUN_EXIT.usage;
  }
  const cores = availableParallelism();
  const wv = values.workers ?? cfg.capture.workers;
  const workers = parseWorkers(wv, cores);
  if (workers === undefined) {
    log.error({ code: 'LLMTAP_ERR_USAGE' }, `llmtap run: --workers must be a count in 1..1024 or auto (got '${String(wv)}')`);
    return RUN_EXIT.usage;
  }
  if (workers > 1 && backend !== 'native') {
    log.error({ code: 'LLMTAP_ERR_USAGE' }, 'llmtap run: several workers need the native backend (each opens its own socket in a PACKET_FANOUT group)');
    return RUN_EXIT.usage;
  }
  const bpf = values.bpf ?? cfg.capture.bpf;
  const liveOpts: LiveOptions = {
    iface,
    snaplen: cfg.capture.snaplen,
    promisc: cfg.capture.promisc,
    bufferBytes: cfg.capture.buffer_bytes,
    batchPackets: Math.min(cfg.capture.batch_packets, 65535),
    timeoutMs: Math.min(cfg.capture.timeout_ms, 10_000),
    backend,
    ...(bpf !== undefined ? { bpf } : {}),
  };
  let live: LiveSource;
  try {
    live = LiveSource.open(liveOpts);
  } catch (e) {
    if (e instanceof LiveCaptureError) {
      log.error({ code: e.code, iface }, `llmtap run: ${e.code}: ${e.message}`);
      return exitFor(e);
    }
    throw e;
  }

  // several workers: the handle above only proved the interface, permission and filter; each
  // worker opens its own in the group once the sensor is built
  const group = cfg.capture.fanout_group ?? (process.pid & 0xffff);
  if (workers > 1) await live.close();
  return runLive(cfg, values.config, workers > 1 ? { workers, group, liveOpts } : live, { ...deps, log: root }, {
    db: values.db, flows: values.flows, api: !values['no-api'],
  });
}

/** Live capture through several workers (src/workers/live.ts). */
interface WorkersPlan {
  workers: number;
  group: number;
  liveOpts: LiveOptions;
}

async function runLive(cfg: SensorConfig, cfgFile: string | undefined, capture: LiveSource | WorkersPlan, deps: RunDeps & { log: Logger },
  o: { db: string | undefined; flows: string | undefined; api: boolean }): Promise<number> {
  const root = deps.log;
  const log = root.child({ stage: 'run' });
  const audit = auditLogger(root);
  const outLog = root.child({ stage: 'output' });
  let sensor: Sensor<Store>;
  try {
    sensor = await buildSensor(cfg, {
      ...(o.db !== undefined ? { db: o.db } : {}),
      // one line when a fault starts, one when it clears (with the writes it held)
      onStoreFault: (e) => {
        if (e.state === 'started') log.error({ db: e.path, reason: e.reason, code: e.code, err: e.message }, 'database not writable: alerts and observations are queued and retried');
        else log.warn({ db: e.path, reason: e.reason, writes: e.writes, dropped: e.dropped, seconds: e.seconds }, 'database writable again: queued writes stored');
      },
      outputLog: outLog,
      ...(o.flows !== undefined ? { flows: { path: o.flows, mode: 'stream' as const } } : {}),
      log: root,
      // fleet.servers set: named flow records also go to the hub (docs/fleet.md)
      fleet: true,
      // one line when an overload episode starts, one when it ends (with what was shed)
      overload: {
        onEvent: (e) => {
          if (e.state === 'started') {
            log.warn({ level: e.level, state: e.level === 1 ? 'shed_dissect' : 'shed_analysis', why: e.why, newFlowsPerS: e.newFlowsPerS, lagS: e.lagS },
              'overload: new flows arrive faster than the pipeline takes them; new flows are not dissected' + (e.level === 2 ? ' nor analyzed' : ''));
          } else {
            log.warn({ seconds: e.seconds, maxLevel: e.maxLevel, undissected: e.undissected, unanalyzed: e.unanalyzed, peakNewFlowsPerS: e.peakNewFlowsPerS },
              'overload over: new flows are dissected and analyzed again');
          }
        },
      },
    });
  } catch (e) {
    if (capture instanceof LiveSource) await capture.close();
    if (!(e instanceof SensorBuildError)) throw e;
    if (e.step === 'store' || e.step === 'allowlist') {
      log.error({ code: 'LLMTAP_ERR_STORE_OPEN', db: e.where, err: e.message }, `llmtap run: cannot open the database ${e.where}: ${e.message}`);
      return RUN_EXIT.failed;
    }
    log.error({ code: (e.cause as { code?: string }).code ?? 'LLMTAP_ERR_CONFIG', err: e.message }, `llmtap run: ${e.message}`);
    return RUN_EXIT.usage;
  }
  const { pipeline, store } = sensor;
  let live: LiveSource | LiveWorkerCapture;
  if (capture instanceof LiveSource) {
    live = capture;
  } else {
    live = new LiveWorkerCapture(pipeline, {
      workers: capture.workers,
      data: {
        capture: { ...capture.liveOpts, fanoutGroup: capture.group },
        flow: flowTableOptionsFrom(cfg.flow),
        dissect: dissectOptionsFrom(cfg.dissect, pipeline.tenants.payloadEntropyWanted),
        idleTickMs: 100,
        idleSlackMs: Math.max(500, 4 * capture.liveOpts.timeoutMs),
      },
      onRestart: (e) => log.error({ worker: e.worker, restarts: e.restarts, err: e.error }, 'capture worker failed: replaced (the flows it held open are lost)'),
    });
    const workers = live;
    pipeline.workerCounters = () => workers.pathCounters();
    // the overload governor counts the workers' new flows and sets the level they create flows at
    pipeline.overload?.retarget(workers.workers.shedTarget());
  }
  const iface = capture instanceof LiveSource ? capture.opts.iface : capture.liveOpts.iface;
  const extra = (): Record<string, unknown> => (live instanceof LiveSource ? live.extraStats() : { workers: live.workerStats() });
  // feed files named in the config are read once before capture starts
  for (const f of (await sensor.readEdrFiles()).failures) log.warn({ file: f.name, err: f.error.message }, 'EDR file unreadable');

  let finished!: (code: number) => void;
  const done = new Promise<number>((res) => { finished = res; });
  let stopping = false;

  const shutdown = async (why: string, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'stopping: flushing open flows and closing the database');
    clearInterval(statsTimer);
    // handlers stay installed: a second signal during the flush must not kill the process.
    // The sensor stops capture first (the batches captured before the stop are delivered).
    const r = await sensor.close({ outputsMs: 5000 });
    if (r.flushError !== undefined) {
      log.error({ err: r.flushError.message }, 'flush failed');
      code = RUN_EXIT.failed;
    }
    for (const l of r.undelivered) log.warn({ output: l.name, queued: l.queued, err: l.lastError }, 'output: alert changes not delivered at shutdown');
    if (r.apiError !== undefined) log.warn({ err: r.apiError.message }, 'API close failed');
    if (!r.settled || r.loss !== undefined) {
      const st = r.loss?.status ?? store.status();
      const lost = r.loss ?? { queued: [], dropped: [] };
      log.error({ db: sensor.dbPath, reason: st.reason, queued: st.queued, dropped: st.dropped, alerts: [...lost.queued, ...lost.dropped].map((a) => a.id) },
        'stopping with writes the database did not take');
      code = RUN_EXIT.failed;
    }
    log.info({ capture: live.stats(), ...extra(), overload: pipeline.overload?.status() }, 'stopped');
    finished(code);
  };

  const reload = (): void => {
    let next: SensorConfig = cfg;
    if (cfgFile !== undefined) {
      try {
        next = loadConfig(cfgFile);
      } catch (e) {
        log.error({ err: (e as Error).message }, 'SIGHUP: config invalid, keeping the running one');
        audit({ action: 'config.reload', who: 'signal:SIGHUP', ok: false, detail: { file: cfgFile, err: (e as Error).message } });
        return;
      }
    }
    // outputs: follow new tenants from their newest change, apply the list (file outputs reopen)
    const hadOutputs = sensor.outputs !== undefined;
    sensor.reloadOutputs(next).catch((e: Error) => log.error({ err: e.message }, hadOutputs ? 'SIGHUP: outputs invalid, keeping the running ones' : 'SIGHUP: outputs not started'));
    // the config's allowlist entries become the new file's set: removed ones are revoked, API ones stay
    void sensor.reload(next).then((r) => {
      if ('error' in r.allowlist) log.error({ err: r.allowlist.error.message }, 'SIGHUP: config allowlist not applied (store not writable), keeping the stored entries');
      else log.info({ added: r.allowlist.added, removed: r.allowlist.removed, kept: r.allowlist.kept }, 'SIGHUP: config allowlist applied');
      if (r.rules.ok) log.info('SIGHUP: rules, tenants and allowlist reloaded');
      else log.error({ err: r.rules.error }, 'SIGHUP: rule reload failed, keeping the running rules');
      for (const w of configWarnings(next)) log.warn({ code: 'LLMTAP_WARN_CONFIG' }, w);
      audit({ action: 'config.reload', who: 'signal:SIGHUP', ok: r.rules.ok, detail: { ...(cfgFile !== undefined ? { file: cfgFile } : {}), allowlist_entries: next.allowlist.length, ...(r.rules.ok ? {} : { err: r.rules.error }) } });
    });
  };

  const handlers = {
    SIGTERM: () => void shutdown('SIGTERM', RUN_EXIT.ok),
    SIGINT: () => void shutdown('SIGINT', RUN_EXIT.ok),
    SIGHUP: reload,
  };
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(s, handlers[s]);

  const statsTimer = setInterval(() => log.info({ capture: live.stats() }, 'capture stats'), 60_000);

  // advance flow/join timers on a quiet link (live timestamps are wall-clock µs)
  sensor.startClock(1000);
  sensor.addSource(live);
  if (live instanceof LiveSource) {
    live.start((b) => pipeline.onBatch(b), (err) => {
      if (err !== null) {
        log.error({ err: err.message }, 'capture stopped');
        void shutdown('capture error', RUN_EXIT.failed);
      }
    });
  } else {
    try {
      await live.start();
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      log.error({ err: err.message }, `llmtap run: capture workers did not start: ${err.message}`);
      void shutdown('capture workers did not start', RUN_EXIT.failed);
      return done;
    }
  }
  sensor.followEdr((name, err) => log.warn({ file: name, err: err.message }, 'EDR feed unreadable'));
  if (o.api) {
    try {
      await sensor.serve({ running: () => true, source: () => live.stats(), iface, ...(live instanceof LiveWorkerCapture ? { workers: () => live.workerStats() } : {}) });
    } catch (e) {
      log.error({ err: (e as Error).message }, `llmtap run: cannot serve the API: ${(e as Error).message}`);
      void shutdown('API failed', RUN_EXIT.failed);
    }
  }
  if (live instanceof LiveSource) log.info({ iface, backend: live.opts.backend, linkType: live.linkType() }, 'capturing');
  else log.info({ iface, backend: 'native', workers: live.workers.stats().length, fanoutGroup: (capture as WorkersPlan).group }, 'capturing');
  return done;
}
