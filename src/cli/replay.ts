/**
 * `llmtap replay`: capture files (and their EDR feed) through the whole pipeline into the
 * database, then a readable summary: flows, AI observations by provider, and the alerts.
 */
import { declaredByLabel } from '../counters.js';
import { SOURCE_COUNTERS } from '../source/reasons.js';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { loadConfig, type SensorConfig } from '../config.js';
import type { Pipeline, PacketPathTotals } from '../pipeline.js';
import type { WorkerCounters } from '../metrics.js';
import { ShardedReplay, parseWorkers, type WorkerStat } from '../workers/replay.js';
import { fileKind, readCaptureFile, type FileReadResult } from '../source/file.js';
import { MALFORMED } from '../decode/reasons.js';
import type { SourceStats } from '../records.js';
import type { ReplaySummary } from './summary.js';
import { Progress } from './progress.js';
import { EXIT, printUsage, wantsHelp } from './exit.js';
import { BATCH_COMMANDS, endBatch, finishBatch, openBatch, optionsUsage, parseOptions, pipelineSummary, readEdr } from './batch.js';

export const REPLAY_USAGE = `usage: llmtap replay FILE|DIR|-... [options]

Replays capture files (pcap, pcapng, either gzip-compressed; a directory: the captures in it;
-: one capture on standard input) through the pipeline into the database and prints a summary.

options:
${optionsUsage('replay')}
exit codes: 0 success, 1 a capture unreadable or corrupt (everything before it processed),
            or a packet worker failed (restarted; what it lost is reported), 2 usage or
            configuration error
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

const CMD = 'llmtap replay';

/** What reading the captures gave: per-file results, the packet paths' totals, the workers. */
interface CaptureRead {
  reads: FileReadResult[];
  failed: boolean;
  totals: Pick<PacketPathTotals, 'packets' | 'wireBytes' | 'ended' | 'decode'>;
  workers?: WorkerStat[];
}

/** A replay's packet workers as the per-worker metrics show them (no kernel socket: its counters are 0). */
function workerCounters(ws: WorkerStat[]): WorkerCounters[] {
  return ws.map((w) => ({
    worker: w.worker, packets: w.packets, kernelReceived: 0, kernelDropped: 0,
    busyRatio: w.busyMs + w.idleMs > 0 ? w.busyMs / (w.busyMs + w.idleMs) : 0, activeFlows: 0, restarts: w.restarts,
  }));
}

/** The captures through the pipeline's own packet path, in this thread. */
async function readInProcess(pipeline: Pipeline, files: string[], progress: Progress): Promise<CaptureRead> {
  const reads: FileReadResult[] = [];
  let failed = false;
  for (const f of files) {
    progress.start(f);
    try {
      const r = await readCaptureFile(f, (b) => pipeline.onBatch(b), {
        onProgress: (done, total) => progress.update(done, total, pipeline.packets.packets),
      });
      reads.push(r);
      if (r.error !== undefined) {
        failed = true;
        process.stderr.write(`${CMD}: ${r.error.message} (everything before it was processed)\n`);
      }
    } catch (err) {
      failed = true;
      process.stderr.write(`${CMD}: ${(err as Error).message}\n`);
    }
    progress.done();
  }
  const pp = pipeline.packets;
  return { reads, failed, totals: { packets: pp.packets, wireBytes: pp.wireBytes, ended: pp.flows.ended, decode: pp.decodeStats() } };
}

/**
 * The captures through `n` packet workers (src/workers/); a failed worker is replaced and
 * reported. The workers start at once; what they emit waits for the pipeline (read()).
 */
function startSharded(cfg: SensorConfig, files: string[], n: number, progress: Progress): { sharded: ShardedReplay; read: (pipeline: Pipeline) => Promise<CaptureRead> } {
  let failed = false;
  let current = '';
  const sharded = new ShardedReplay(undefined, cfg, {
    workers: n,
    onProgress: (file, done, total, packets) => {
      if (file !== current) {
        if (current !== '') progress.done();
        current = file;
        progress.start(file);
      }
      progress.update(done, total, packets);
    },
    onRestart: (e) => {
      failed = true;
      const past = e.skip ? '; it had failed at the same place before: its packets there are skipped (counted in flow.worker_lost_packets)' : '';
      process.stderr.write(`${CMD}: LLMTAP_ERR_WORKER: packet worker ${e.worker} failed (${e.error}) and was restarted: ${e.lostPackets} packets and ${e.lostFlows} open flows lost${past}\n`);
    },
  });
  sharded.begin(files);
  const read = async (pipeline: Pipeline): Promise<CaptureRead> => {
    const res = await sharded.run(files, pipeline);
    progress.done();
    for (const r of res.reads) {
      if (r.error === undefined) continue;
      failed = true;
      process.stderr.write(`${CMD}: ${r.error.message} (everything before it was processed)\n`);
    }
    for (const e of res.fileErrors) {
      failed = true;
      process.stderr.write(`${CMD}: ${e.message}\n`);
    }
    return { reads: res.reads, failed, totals: res.totals, workers: res.workers };
  };
  return { sharded, read };
}

export async function replayCommand(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) return printUsage(REPLAY_USAGE);
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: parseOptions(BATCH_COMMANDS.replay.options) });
  if (positionals.length === 0) {
    process.stderr.write(`${CMD}: give one or more capture files or directories\n${REPLAY_USAGE}`);
    return EXIT.usage;
  }
  const format = values.format ?? 'table';
  if (!['table', 'json'].includes(format)) {
    process.stderr.write(`${CMD}: --format must be table or json (got '${format}'; ${CMD} --help shows the usage)\n`);
    return EXIT.usage;
  }
  if (positionals.filter((p) => p === '-').length > 1) {
    process.stderr.write(`${CMD}: standard input (-) can be given once (${CMD} --help shows the usage)\n`);
    return EXIT.usage;
  }
  const cfg: SensorConfig = loadConfig(values.config);
  const workers = parseWorkers(values.workers ?? cfg.capture.workers, availableParallelism());
  if (workers === undefined) {
    process.stderr.write(`${CMD}: --workers takes a number from 1 to 1024 or auto (got '${values.workers ?? ''}'; ${CMD} --help shows the usage)\n`);
    return EXIT.usage;
  }
  if (workers > 1 && positionals.includes('-')) {
    process.stderr.write(`${CMD}: standard input (-) is read with one worker (give --workers 1, or a file)\n`);
    return EXIT.usage;
  }
  const inputs = expandInputs(positionals);
  const files = inputs.files;
  let failed = false;
  for (const sk of inputs.skipped) {
    process.stderr.write(`${CMD}: skipped ${sk.path}: ${sk.why}\n`);
    if (sk.named) failed = true;
  }
  const progress = new Progress(!values.quiet && !values['no-progress'] && process.stderr.isTTY === true);
  // several workers start reading now, while this thread opens the store (the time of the read
  // counts from here)
  let t0 = process.hrtime.bigint();
  const sharded = workers > 1 ? startSharded(cfg, files, workers, progress) : undefined;
  let sensor: Awaited<ReturnType<typeof openBatch>>;
  let edr: Awaited<ReturnType<typeof readEdr>>;
  try {
    sensor = await openBatch(CMD, cfg, values, 'nothing was replayed');
    if (sensor === undefined) {
      sharded?.sharded.abort();
      return EXIT.failed;
    }
    // EDR feeds first: records arriving before their flows is one of the two join orders
    edr = await readEdr(CMD, sensor, values);
  } catch (err) {
    sharded?.sharded.abort();
    throw err;
  }
  const { pipeline } = sensor;
  if (edr.failed) failed = true;

  if (sharded === undefined) t0 = process.hrtime.bigint();
  const read = sharded !== undefined ? await sharded.read(pipeline) : await readInProcess(pipeline, files, progress);
  if (read.failed) failed = true;
  const reads = read.reads;
  const fin = await finishBatch(CMD, sensor);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  if (fin.failed) failed = true;

  const decode = read.totals.decode;
  const malformed: Record<string, number> = {};
  for (const [k, n] of Object.entries(decode)) if (MALFORMED.has(k)) malformed[k] = n;
  for (const r of reads) for (const [k, n] of Object.entries(fileProblems(r))) malformed[k] = (malformed[k] ?? 0) + n;
  const summary: ReplaySummary = {
    files: reads.map((r) => ({ file: r.file, format: r.format, compressed: r.compressed, packets: r.stats.packets, error: r.error?.message })),
    skipped: inputs.skipped.map(({ path, why }) => ({ path, why })),
    packets: read.totals.packets,
    wireBytes: read.totals.wireBytes,
    flows: pipeline.counters.flows,
    flowsEnded: { ...read.totals.ended },
    malformed,
    wallS,
    edr: edr.results,
    threatIntel: pipeline.threatIntel,
    ...(read.workers !== undefined ? { workers: read.workers } : {}),
    ...pipelineSummary(sensor),
    ...(fin.fleet !== undefined ? { fleet: fin.fleet } : {}),
  };
  return endBatch(sensor, summary, {
    format,
    quiet: values.quiet === true,
    serve: values.serve === true,
    loss: fin.loss,
    failed,
    source: () => replaySource(reads),
    ...(read.workers !== undefined ? { workers: () => workerCounters(read.workers ?? []) } : {}),
  });
}
