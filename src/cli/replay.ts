/**
 * `llmtap replay`: capture files (and their EDR feed) through the whole pipeline into the
 * database, then a readable summary: flows, AI observations by provider, and the alerts.
 */
import { declaredByLabel } from '../metrics.js';
import { SOURCE_COUNTERS } from '../source/reasons.js';
import { closeSync, existsSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, configPath, type SensorConfig } from '../config.js';
import { Pipeline } from '../pipeline.js';
import { fileKind, readCaptureFile, type FileReadResult } from '../source/file.js';
import { Store, StoreFaultError, type StoreFaultEvent } from '../store/store.js';
import { FAULT_TEXT } from '../store/faults.js';
import { EdrFileError, readEdrFile, type IngestResult } from '../attribute/ingest.js';
import { MALFORMED } from '../decode/reasons.js';
import type { Alert, FlowRecord, SourceStats } from '../records.js';
import { FleetSensor } from '../fleet/sensor.js';
import type { PublisherStats } from '../fleet/publisher.js';
import { renderSummary, type ReplaySummary } from './summary.js';
import { Progress } from './progress.js';
import { serveApi } from './serve.js';
import { applyConfigAllowlist } from './config-allowlist.js';
import { EXIT, printUsage, wantsHelp } from './exit.js';
import { finishOutputs, openOutputs } from './outputs.js';

export const REPLAY_USAGE = `usage: llmtap replay FILE|DIR|-... [options]

Replays capture files (pcap, pcapng, either gzip-compressed; a directory: the captures in it;
-: one capture on standard input) through the pipeline into the database and prints a summary.

options:
  --edr FILE          an endpoint (EDR) feed to join, before the captures (repeatable)
  --edr-tenant T      the tenant of those feeds (default: edr.tenant of the config)
  --config FILE       sensor config (YAML/JSON); default: built-in defaults
  --db PATH           database (default: store.path of the config)
  --flows OUT         write every flow record as NDJSON (- for standard output)
  --format table|json summary format (default table)
  --serve             serve the API on the result until stopped
  --quiet             no summary (json still prints), no progress
  --no-progress       no progress line
  -h, --help          this text

exit codes: 0 success, 1 a capture unreadable or corrupt (everything before it processed),
            2 usage or configuration error
`;

const CAPTURE_EXT = /\.(pcap|pcapng|cap|dmp)(\.gz)?$/i;

export interface ExpandedInputs {
  /** Regular files to read, in order. */
  files: string[];
  /** Inputs not read, each with why (a FIFO, socket, device or directory named like a capture …). */
  skipped: { path: string; why: string; named: boolean }[];
}

const NOT_READ = 'only regular files and .gz are read';

/**
 * Expand directories to the capture files inside them (sorted, not recursive). Only regular
 * files (symlinks followed) are read: a directory entry named like a capture that is a FIFO,
 * socket, device or directory is skipped with a message naming it (a FIFO would block the read
 * forever). An input named on the command line that is not a regular file is skipped too and
 * marked `named` (the replay then exits 1); a named directory is expanded.
 */
export function expandInputs(paths: string[]): ExpandedInputs {
  const files: string[] = [];
  const skipped: ExpandedInputs['skipped'] = [];
  for (const p of paths) {
    if (p === '-') {
      files.push(p); // standard input
      continue;
    }
    if (!existsSync(p)) throw Object.assign(new Error(`${p}: no such file or directory`), { code: 'LLMTAP_ERR_INPUT' });
    const st = statSync(p);
    if (st.isDirectory()) {
      const found: string[] = [];
      const before = skipped.length;
      for (const f of readdirSync(p).filter((n) => CAPTURE_EXT.test(n)).sort()) {
        const path = join(p, f);
        let kind: string;
        try {
          const fst = statSync(path);
          if (fst.isFile()) { found.push(path); continue; }
          kind = fileKind(fst);
        } catch (e) {
          kind = `unreadable (${(e as Error).message})`;
        }
        skipped.push({ path, why: `${kind}, not a capture file (${NOT_READ})`, named: false });
      }
      if (found.length === 0 && skipped.length === before) {
        const what = CAPTURE_EXT.test(p.replace(/\/+$/, '')) ? 'a directory, not a capture file, and it holds' : 'a directory with';
        throw Object.assign(new Error(`${p}: ${what} no capture files (*.pcap, *.pcapng, *.cap, *.dmp, optionally .gz)`), { code: 'LLMTAP_ERR_INPUT' });
      }
      files.push(...found);
    } else if (st.isFile()) files.push(p);
    else skipped.push({ path: p, why: `${fileKind(st)}, not a capture file (${NOT_READ})`, named: true });
  }
  return { files, skipped };
}

/** One stderr line per storage fault episode (its start and its end). */
function faultLine(e: StoreFaultEvent): string {
  if (e.state === 'started') return `llmtap replay: ${e.path}: database not writable (${FAULT_TEXT[e.reason]}, ${e.code}): writes are queued and retried\n`;
  return `llmtap replay: ${e.path}: database writable again after ${e.seconds} s: ${e.writes} queued writes stored${e.dropped > 0 ? `, ${e.dropped} dropped (queue full)` : ''}\n`;
}

/**
 * What the database did not take, or undefined when everything was stored: one line naming the
 * file, the fault and the counts, then one line per alert that was not stored.
 */
export function lossReport(store: Store): string | undefined {
  const st = store.status();
  const lost = {
    alert: st.queued.alert + st.dropped.alert,
    observation: st.queued.observation + st.dropped.observation,
    other: st.queued.other + st.dropped.other,
  };
  if (lost.alert + lost.observation + lost.other === 0) return undefined;
  const { queued, dropped } = store.unstoredAlerts();
  const why = st.reason !== undefined ? `${FAULT_TEXT[st.reason]}: ${st.code}: ${st.message}` : 'writes dropped from a full queue';
  // the alert lane also holds the contributions that count observations toward alerts
  const lines = [
    `llmtap replay: LLMTAP_ERR_STORE_FAULT: ${store.file()}: not stored (${why}): ${queued.length + dropped.length} alerts, ${lost.observation} observations, ${lost.alert - queued.length - dropped.length + lost.other} other writes`,
  ];
  for (const a of [...queued, ...dropped]) {
    const who = [a.deviceId ?? a.clientAddr, a.processName, a.provider].filter((x) => x !== undefined).join(' ');
    lines.push(`  not stored: alert ${a.id} ${a.tenant} ${a.heuristic} ${a.severity} ${a.title}${who !== '' ? ` (${who})` : ''} count ${a.count}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Lines written to a file descriptor in chunks of up to 1 MiB, synchronously (bounded memory). */
export class LineWriter {
  private parts: string[] = [];
  private chars = 0;
  constructor(private readonly fd: number) {}

  write(line: string): void {
    this.parts.push(line);
    this.chars += line.length;
    if (this.chars >= 1 << 20) this.flush();
  }

  flush(): void {
    if (this.parts.length === 0) return;
    const buf = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.chars = 0;
    for (let off = 0; off < buf.length; ) off += writeSync(this.fd, buf, off);
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** A file read's problems: its reasons declared as failures (skipped pcapng blocks are not). */
function fileProblems(r: FileReadResult): Record<string, number> {
  return declaredByLabel('source', SOURCE_COUNTERS, r.reasons, 'llmtap_source_file_problems_total', 'reason');
}

/** What the replayed files delivered, for the metrics of `--serve` (file problems by reason included). */
export function replaySource(reads: FileReadResult[]): SourceStats {
  const fileReasons: Record<string, number> = {};
  const out: SourceStats = { packets: 0, capBytes: 0, wireBytes: 0, fileBytes: 0, truncatedRecords: 0, fileReasons };
  for (const r of reads) {
    out.packets += r.stats.packets;
    out.capBytes += r.stats.capBytes;
    out.wireBytes += r.stats.wireBytes;
    out.fileBytes += r.stats.fileBytes;
    out.truncatedRecords += r.stats.truncatedRecords;
    for (const [k, n] of Object.entries(fileProblems(r))) fileReasons[k] = (fileReasons[k] ?? 0) + n;
  }
  return out;
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

/** What both `replay` and `ingest` take from their options to run a pipeline into a database. */
export interface RunOptions {
  edr?: string[];
  'edr-tenant'?: string;
  db?: string;
  flows?: string;
}

/** A run's database, pipeline, outputs and flow writer (`replay` and `ingest` alike). */
export interface RunSetup {
  dbPath: string;
  store: Store;
  pipeline: Pipeline;
  outputs: Awaited<ReturnType<typeof openOutputs>>;
  flowsOut: { write(line: string): void; close(): void } | undefined;
  /** Fleet mode (`fleet.servers`): named flow records also go to the hub (src/fleet/sensor.ts). */
  fleet: FleetSensor | undefined;
  /** What the fleet publisher did, once the run finished. */
  fleetStats?: PublisherStats;
}

/**
 * Open the database (with the config allowlist stored in it), the outputs, the flow writer and
 * the pipeline. A storage fault while storing the allowlist: one message, undefined (the caller
 * exits 1) — without its allowlist the run would raise alerts the config excuses.
 */
export async function openRun(
  cmd: string,
  cfg: SensorConfig,
  values: RunOptions,
  o: { nothing: string; onFault?: (e: StoreFaultEvent) => void },
): Promise<RunSetup | undefined> {
  const dbPath = values.db ?? configPath(cfg, cfg.store.path, { output: true });
  const store = Store.open(dbPath, {
    retentionHours: cfg.store.retention_hours,
    busyTimeoutMs: cfg.store.busy_timeout_ms,
    queueMax: cfg.store.queue_max,
    retryIntervalMs: cfg.store.retry_interval_ms,
    ...(o.onFault !== undefined ? { onFault: o.onFault } : {}),
  });
  try {
    applyConfigAllowlist(cfg, store);
  } catch (err) {
    store.close();
    if (!(err instanceof StoreFaultError)) throw err;
    process.stderr.write(`${cmd}: ${err.code}: ${err.message}: the config allowlist cannot be stored, ${o.nothing}\n`);
    return undefined;
  }
  const outputs = await openOutputs(cfg, store, { warn: (w, msg) => process.stderr.write(`${cmd}: ${msg}: ${JSON.stringify(w)}\n`) });
  // Written synchronously: the input is read synchronously, so a file write stream would
  // buffer every record of the run in memory (stdout to a pipe or file is synchronous on Linux).
  let flowsOut: RunSetup['flowsOut'];
  if (values.flows === '-') flowsOut = { write: (line) => process.stdout.write(line), close: () => {} };
  else if (values.flows !== undefined) flowsOut = new LineWriter(openSync(values.flows, 'w'));
  const out = flowsOut;
  const fleet = cfg.fleet.servers.length > 0 ? new FleetSensor(cfg) : undefined;
  const onFlow = out !== undefined && fleet !== undefined
    ? (rec: FlowRecord) => {
      out.write(`${JSON.stringify(rec)}\n`);
      fleet.onFlow(rec);
    }
    : out !== undefined ? (rec: FlowRecord) => out.write(`${JSON.stringify(rec)}\n`) : fleet !== undefined ? (rec: FlowRecord) => fleet.onFlow(rec) : undefined;
  const pipeline = new Pipeline(cfg, { store, ...(onFlow !== undefined ? { onFlow } : {}) });
  fleet?.bind(pipeline);
  return { dbPath, store, pipeline, outputs, flowsOut, fleet };
}

/**
 * The EDR feeds of the config and of --edr into the pipeline; `failed` when one could not be
 * read. With `keepPartial`, what a feed that broke part way delivered is counted too.
 */
export async function readEdrFeeds(
  cmd: string,
  cfg: SensorConfig,
  values: RunOptions,
  pipeline: Pipeline,
  keepPartial: boolean,
): Promise<{ results: { file: string; result: IngestResult }[]; failed: boolean }> {
  const edrFiles = [...cfg.edr.files.map((f) => configPath(cfg, f)), ...(values.edr ?? [])];
  const results: { file: string; result: IngestResult }[] = [];
  let failed = false;
  for (const f of edrFiles) {
    try {
      const result = await readEdrFile(f, { tenant: values['edr-tenant'] ?? cfg.edr.tenant, lineageKey: cfg.attribute.lineage_key }, (r) => pipeline.addEdr(r));
      pipeline.noteIngest(result.rejected);
      results.push({ file: f, result });
    } catch (err) {
      failed = true;
      process.stderr.write(`${cmd}: EDR feed ${(err as Error).message}\n`);
      const partial = keepPartial && err instanceof EdrFileError ? err.result : undefined;
      if (partial !== undefined) {
        pipeline.noteIngest(partial.rejected);
        results.push({ file: f, result: partial });
      }
    }
  }
  return { results, failed };
}

/**
 * End the pipeline, wait (bounded) for the outputs, give the database one last try and close the
 * flow writer: the loss report (undefined when everything was stored), the wall time since t0,
 * and `failed` when an output kept alert changes undelivered.
 */
export async function finishRun(cmd: string, run: RunSetup, t0: bigint): Promise<{ loss: string | undefined; wallS: number; failed: boolean }> {
  let failed = false;
  run.pipeline.finish();
  if (run.outputs !== undefined) {
    // every alert change of the run reaches the outputs before the summary (bounded wait)
    for (const l of await finishOutputs(run.outputs, 30_000)) {
      failed = true;
      process.stderr.write(`${cmd}: output ${l.name}: ${l.queued} alert change(s) not delivered${l.lastError !== undefined ? ` (${l.lastError})` : ''}\n`);
    }
  }
  if (run.fleet !== undefined) {
    // fleet mode: every spooled record reaches the stream before the run ends (bounded wait)
    const f = await run.fleet.finish();
    if (!f.delivered) {
      failed = true;
      process.stderr.write(`${cmd}: fleet: ${f.stats.buffered} flow record(s) not delivered to NATS within fleet.drain_s\n`);
    }
    if (f.stats.refused > 0 || f.stats.dropped > 0) {
      failed = true;
      process.stderr.write(`${cmd}: fleet: ${f.stats.refused} flow record(s) refused by the server, ${f.stats.dropped} dropped (spool full)\n`);
    }
    run.fleetStats = f.stats;
  }
  // a storage fault: one last try, then everything that did not land is named (exit 1)
  run.store.settle();
  const loss = lossReport(run.store);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  run.flowsOut?.close();
  return { loss, wallS, failed };
}

/** The summary fields every run reports from its pipeline and database, in summary order. */
export function pipelineSummary(cfg: SensorConfig, run: RunSetup): Pick<ReplaySummary, 'aiObservations' | 'observations' | 'providers' | 'alerts' | 'quiet' | 'stats' | 'db'> {
  const { pipeline, store } = run;
  const tenants = [...new Set(['default', ...cfg.tenants.map((t) => t.id)])];
  return {
    aiObservations: pipeline.counters.aiObservations,
    observations: pipeline.counters.observations,
    providers: [...pipeline.counters.byProvider.values()].map((p) => ({ ...p })),
    alerts: currentAlerts(store, tenants),
    quiet: { sanctioned: pipeline.counters.sanctioned, allowlisted: pipeline.detector.stats()['detect.h1.allowlisted'] ?? 0 },
    stats: pipeline.stats(),
    db: run.dbPath,
  };
}

/**
 * Print the summary (unless quiet; json always), then the loss report, then serve the API until
 * stopped (--serve) or close the database: the exit code.
 */
export async function endRun(
  cfg: SensorConfig,
  run: RunSetup,
  summary: ReplaySummary,
  o: { format: string; quiet: boolean; serve: boolean; loss: string | undefined; failed: boolean; source?: () => SourceStats },
): Promise<number> {
  let failed = o.failed;
  if (!o.quiet || o.format === 'json') process.stdout.write(renderSummary(summary, o.format === 'json' ? 'json' : 'table'));
  if (o.loss !== undefined) {
    process.stderr.write(o.loss);
    failed = true;
  }
  if (o.serve) {
    await serveApi(cfg, run.store, run.pipeline, run.dbPath, undefined, o.source);
    return failed ? EXIT.failed : EXIT.ok;
  }
  run.store.close();
  return failed ? EXIT.failed : EXIT.ok;
}

export async function replayCommand(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) return printUsage(REPLAY_USAGE);
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      edr: { type: 'string', multiple: true },
      'edr-tenant': { type: 'string' },
      config: { type: 'string' },
      db: { type: 'string' },
      flows: { type: 'string' },
      format: { type: 'string', default: 'table' },
      serve: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      'no-progress': { type: 'boolean', default: false },
    },
  });
  if (positionals.length === 0) {
    process.stderr.write(`llmtap replay: give one or more capture files or directories\n${REPLAY_USAGE}`);
    return EXIT.usage;
  }
  const format = values.format ?? 'table';
  if (!['table', 'json'].includes(format)) {
    process.stderr.write(`llmtap replay: --format must be table or json (got '${format}'; llmtap replay --help shows the usage)\n`);
    return EXIT.usage;
  }
  if (positionals.filter((p) => p === '-').length > 1) {
    process.stderr.write('llmtap replay: standard input (-) can be given once (llmtap replay --help shows the usage)\n');
    return EXIT.usage;
  }
  const cfg: SensorConfig = loadConfig(values.config);
  const inputs = expandInputs(positionals);
  const files = inputs.files;
  let failed = false;
  for (const sk of inputs.skipped) {
    process.stderr.write(`llmtap replay: skipped ${sk.path}: ${sk.why}\n`);
    if (sk.named) failed = true;
  }
  const run = await openRun('llmtap replay', cfg, values, { nothing: 'nothing was replayed', onFault: (e) => process.stderr.write(faultLine(e)) });
  if (run === undefined) return 1;
  const { pipeline } = run;

  // EDR feeds first: records arriving before their flows is one of the two join orders
  const edr = await readEdrFeeds('llmtap replay', cfg, values, pipeline, true);
  if (edr.failed) failed = true;

  const t0 = process.hrtime.bigint();
  const reads: FileReadResult[] = [];
  const progress = new Progress(!values.quiet && !values['no-progress'] && process.stderr.isTTY === true);
  for (const f of files) {
    progress.start(f);
    try {
      const r = await readCaptureFile(f, (b) => pipeline.onBatch(b), {
        onProgress: (done, total) => progress.update(done, total, pipeline.packets.packets),
      });
      reads.push(r);
      if (r.error !== undefined) {
        failed = true;
        process.stderr.write(`llmtap replay: ${r.error.message} (everything before it was processed)\n`);
      }
    } catch (err) {
      failed = true;
      process.stderr.write(`llmtap replay: ${(err as Error).message}\n`);
    }
    progress.done();
  }
  const fin = await finishRun('llmtap replay', run, t0);
  if (fin.failed) failed = true;

  const decode = pipeline.packets.decodeStats();
  const malformed: Record<string, number> = {};
  for (const [k, n] of Object.entries(decode)) if (MALFORMED.has(k)) malformed[k] = n;
  for (const r of reads) for (const [k, n] of Object.entries(fileProblems(r))) malformed[k] = (malformed[k] ?? 0) + n;
  const summary: ReplaySummary = {
    files: reads.map((r) => ({ file: r.file, format: r.format, compressed: r.compressed, packets: r.stats.packets, error: r.error?.message })),
    skipped: inputs.skipped.map(({ path, why }) => ({ path, why })),
    packets: pipeline.packets.packets,
    wireBytes: pipeline.packets.wireBytes,
    flows: pipeline.counters.flows,
    flowsEnded: { ...pipeline.packets.flows.ended },
    malformed,
    wallS: fin.wallS,
    edr: edr.results,
    threatIntel: pipeline.threatIntel,
    ...pipelineSummary(cfg, run),
    ...(run.fleetStats !== undefined ? { fleet: run.fleetStats } : {}),
  };
  return endRun(cfg, run, summary, {
    format,
    quiet: values.quiet === true,
    serve: values.serve === true,
    loss: fin.loss,
    failed,
    source: () => replaySource(reads),
  });
}
