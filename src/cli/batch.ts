/**
 * What `llmtap replay` (capture files) and `llmtap ingest` (sensor logs) share: one option table,
 * and the steps around their input over the sensor assembly (src/sensor/index.ts) — build the
 * sensor, read the EDR feeds, finish, the summary fields of the pipeline and the database, print
 * and serve or close. Messages name the command (`llmtap replay: …`, `llmtap ingest: …`).
 */
import type { SensorConfig } from '../config.js';
import { StoreFaultError, type Store, type StoreFaultEvent } from '../store/store.js';
import { FAULT_TEXT } from '../store/faults.js';
import type { SourceStats } from '../records.js';
import type { WorkerCounters } from '../metrics.js';
import { buildSensor, currentAlerts, lossReport, SensorBuildError, type Sensor } from '../sensor/index.js';
import type { PublisherStats } from '../fleet/publisher.js';
import { renderSummary, type ReplaySummary } from './summary.js';
import { EXIT } from './exit.js';

/** One option of a file-input command: its parseArgs entry and its usage line. */
interface BatchOption {
  type: 'string' | 'boolean';
  multiple?: boolean;
  default?: string | boolean;
  /** The usage line, after the option (and its argument); `INPUT` is the command's input noun. */
  usage: string;
  arg?: string;
}

/** The options `replay` and `ingest` both take, declared once (parseArgs and the usage text). */
const BATCH_OPTIONS = {
  edr: { type: 'string', multiple: true, arg: 'FILE', usage: 'an endpoint (EDR) feed to join, before the INPUT (repeatable)' },
  'edr-tenant': { type: 'string', arg: 'T', usage: 'the tenant of those feeds (default: edr.tenant of the config)' },
  config: { type: 'string', arg: 'FILE', usage: 'sensor config (YAML/JSON); default: built-in defaults' },
  db: { type: 'string', arg: 'PATH', usage: 'database (default: store.path of the config)' },
  flows: { type: 'string', arg: 'OUT', usage: 'write every flow record as NDJSON (- for standard output)' },
  format: { type: 'string', default: 'table', arg: 'table|json', usage: 'summary format (default table)' },
  serve: { type: 'boolean', default: false, usage: 'serve the API on the result until stopped' },
  quiet: { type: 'boolean', default: false, usage: 'no summary (json still prints)' },
} as const satisfies Record<string, BatchOption>;

/** `replay` adds a progress line (and --quiet stops it too). */
const REPLAY_OPTIONS = {
  ...BATCH_OPTIONS,
  quiet: { ...BATCH_OPTIONS.quiet, usage: 'no summary (json still prints), no progress' },
  'no-progress': { type: 'boolean', default: false, usage: 'no progress line' },
  workers: { type: 'string', arg: 'N|auto', usage: 'packet workers (threads) the flows are sharded across; the results are one worker\'s (default: capture.workers of the config, 1)' },
} as const satisfies Record<string, BatchOption>;

export const BATCH_COMMANDS = {
  replay: { options: REPLAY_OPTIONS, input: 'captures' },
  ingest: { options: BATCH_OPTIONS, input: 'logs' },
} as const;

type Options = typeof REPLAY_OPTIONS | typeof BATCH_OPTIONS;

/** The parseArgs table of one command (the usage fields left out). */
export function parseOptions<O extends Options>(opts: O): { [K in keyof O]: Omit<O[K], 'usage' | 'arg'> } {
  const out: Record<string, unknown> = {};
  for (const [k, { usage: _u, arg: _a, ...o }] of Object.entries(opts) as [string, BatchOption][]) out[k] = o;
  return out as { [K in keyof O]: Omit<O[K], 'usage' | 'arg'> };
}

/** The usage lines of one command's options (`-h, --help` last). */
export function optionsUsage(cmd: keyof typeof BATCH_COMMANDS): string {
  const { options, input } = BATCH_COMMANDS[cmd];
  const lines = (Object.entries(options) as [string, BatchOption][]).map(([k, o]) => {
    const head = `--${k}${o.arg !== undefined ? ` ${o.arg}` : ''}`;
    return `  ${head.padEnd(20)}${o.usage.replace('INPUT', input)}`;
  });
  return `${[...lines, `  ${'-h, --help'.padEnd(20)}this text`].join('\n')}\n`;
}

/** What a file-input command took from its options. */
export interface BatchValues {
  edr?: string[];
  'edr-tenant'?: string;
  db?: string;
  flows?: string;
}

/** One stderr line per storage fault episode (its start and its end). */
function faultLine(cmd: string, e: StoreFaultEvent): string {
  if (e.state === 'started') return `${cmd}: ${e.path}: database not writable (${FAULT_TEXT[e.reason]}, ${e.code}): writes are queued and retried\n`;
  return `${cmd}: ${e.path}: database writable again after ${e.seconds} s: ${e.writes} queued writes stored${e.dropped > 0 ? `, ${e.dropped} dropped (queue full)` : ''}\n`;
}

/**
 * The sensor of a file-input command: no API yet, flow records written synchronously (the input
 * is read synchronously), fault episodes and output warnings on stderr. A storage fault while
 * storing the config allowlist: one message and undefined (the caller exits 1); other build
 * errors are thrown as they were raised (the CLI words them).
 */
export async function openBatch(cmd: string, cfg: SensorConfig, values: BatchValues, nothing: string): Promise<Sensor<Store> | undefined> {
  try {
    return await buildSensor(cfg, {
      ...(values.db !== undefined ? { db: values.db } : {}),
      onStoreFault: (e) => process.stderr.write(faultLine(cmd, e)),
      outputLog: { warn: (w, msg) => process.stderr.write(`${cmd}: ${msg}: ${JSON.stringify(w)}\n`) },
      ...(values.flows !== undefined ? { flows: { path: values.flows, mode: 'sync' as const } } : {}),
      fleet: true,
    });
  } catch (err) {
    if (!(err instanceof SensorBuildError)) throw err;
    if (err.step === 'allowlist' && err.cause instanceof StoreFaultError) {
      process.stderr.write(`${cmd}: ${err.cause.code}: ${err.cause.message}: the config allowlist cannot be stored, ${nothing}\n`);
      return undefined;
    }
    throw err.cause;
  }
}

/** The config's EDR feed files and --edr into the join; a file not read to its end is named on stderr (`failed`). */
export async function readEdr(cmd: string, sensor: Sensor<Store>, values: BatchValues): Promise<{ results: ReplaySummary['edr']; failed: boolean }> {
  const r = await sensor.readEdrFiles({ ...(values.edr !== undefined ? { extra: values.edr } : {}), ...(values['edr-tenant'] !== undefined ? { tenant: values['edr-tenant'] } : {}) });
  for (const f of r.failures) process.stderr.write(`${cmd}: EDR feed ${f.error.message}\n`);
  return { results: r.results.map(({ file, result }) => ({ file, result })), failed: r.failures.length > 0 };
}

/**
 * Finish the sensor (every alert change reaches the outputs before the summary, bounded wait):
 * undelivered outputs and, in fleet mode, flow records not delivered to NATS named on stderr
 * (`failed`), what went to NATS (`fleet`), the loss report of the database (undefined
 * when everything was stored). A pipeline that could not finish is thrown, as before the
 * summary.
 */
export async function finishBatch(cmd: string, sensor: Sensor<Store>): Promise<{ loss: string | undefined; failed: boolean; fleet?: PublisherStats }> {
  const r = await sensor.finish({ outputsMs: 30_000 });
  if (r.flushError !== undefined) throw r.flushError;
  let failed = false;
  for (const l of r.undelivered) {
    failed = true;
    process.stderr.write(`${cmd}: output ${l.name}: ${l.queued} alert change(s) not delivered${l.lastError !== undefined ? ` (${l.lastError})` : ''}\n`);
  }
  const f = r.fleet;
  if (f !== undefined) {
    if (r.fleetDelivered !== true) {
      failed = true;
      process.stderr.write(`${cmd}: fleet: ${f.buffered} flow record(s) not delivered to NATS within fleet.drain_s\n`);
    }
    if (f.refused > 0 || f.dropped > 0) {
      failed = true;
      process.stderr.write(`${cmd}: fleet: ${f.refused} flow record(s) refused by the server, ${f.dropped} dropped (spool full)\n`);
    }
  }
  return { loss: r.loss !== undefined ? lossReport(cmd, r.loss) : undefined, failed, ...(f !== undefined ? { fleet: f } : {}) };
}

/** The summary fields every run reports from its pipeline and database, in summary order. */
export function pipelineSummary(sensor: Sensor<Store>): Pick<ReplaySummary, 'aiObservations' | 'observations' | 'providers' | 'alerts' | 'quiet' | 'stats' | 'db'> {
  const { pipeline, store } = sensor;
  return {
    aiObservations: pipeline.counters.aiObservations,
    observations: pipeline.counters.observations,
    providers: [...pipeline.counters.byProvider.values()].map((p) => ({ ...p })),
    alerts: currentAlerts(store, sensor.tenants()),
    quiet: { sanctioned: pipeline.counters.sanctioned, allowlisted: pipeline.detector.stats()['detect.h1.allowlisted'] ?? 0 },
    stats: pipeline.stats(),
    db: sensor.dbPath,
  };
}

/** Until SIGINT or SIGTERM. */
function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/**
 * Print the summary (unless quiet; json always), then the loss report, then serve the API until
 * stopped (--serve) and close the sensor: the exit code.
 */
export async function endBatch(
  sensor: Sensor<Store>,
  summary: ReplaySummary,
  o: { format: string; quiet: boolean; serve: boolean; loss: string | undefined; failed: boolean; source?: () => SourceStats; workers?: () => WorkerCounters[] },
): Promise<number> {
  let failed = o.failed;
  if (!o.quiet || o.format === 'json') process.stdout.write(renderSummary(summary, o.format === 'json' ? 'json' : 'table'));
  if (o.loss !== undefined) {
    process.stderr.write(o.loss);
    failed = true;
  }
  if (o.serve) {
    await sensor.serve({ ...(o.source !== undefined ? { source: o.source } : {}), ...(o.workers !== undefined ? { workers: o.workers } : {}) });
    await untilStopped();
  }
  await sensor.close({ outputsMs: 30_000 });
  return failed ? EXIT.failed : EXIT.ok;
}
